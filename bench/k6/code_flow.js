// Scenario code_flow: the full authorization-code + PKCE flow through the
// login form, one op per flow: GET the authorization URL (→ login page),
// POST the credentials, follow the callback to the redirect URI, exchange
// the code at the token endpoint. Each iteration starts without cookies (k6
// resets the jar), so every flow is a fresh password login (argon2id).
//
// Environment: AUTH_ENDPOINT, TOKEN_ENDPOINT, CLIENT_ID, CLIENT_SECRET
// (optional: public client otherwise), REDIRECT_URI, SCOPE, USER, PASSWORD
// (or USER_FMT + USER_COUNT), VUS, DURATION, SUMMARY_FILE.
import { Op, codeFlow, options as opts, userFor } from './lib.js';

export { handleSummary } from './lib.js';
export const options = opts(8);

const cfg = {
  authEndpoint: __ENV.AUTH_ENDPOINT,
  tokenEndpoint: __ENV.TOKEN_ENDPOINT,
  clientId: __ENV.CLIENT_ID,
  clientSecret: __ENV.CLIENT_SECRET || '',
  redirectUri: __ENV.REDIRECT_URI,
  scope: __ENV.SCOPE || 'openid',
};

export default function () {
  const op = new Op();
  codeFlow(op, cfg, userFor(), __ENV.PASSWORD);
  op.end();
}
