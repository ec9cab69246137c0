// Scenario refresh: refresh-token rotation. setup() logs one user in per VU
// through the code flow (not measured); each VU then rotates its refresh
// token again and again, one op per token request. A VU whose token is
// refused logs in again (that op counts as an error).
//
// Environment: as code_flow.js (CLIENT_SECRET set: a confidential client),
// plus VUS, DURATION, SUMMARY_FILE.
import http from 'k6/http';
import exec from 'k6/execution';
import { Op, basicAuth, codeFlow, options as opts, userFor } from './lib.js';

export { handleSummary } from './lib.js';
const VUS = Number(__ENV.VUS || 32);
export const options = opts(VUS);

const cfg = {
  authEndpoint: __ENV.AUTH_ENDPOINT,
  tokenEndpoint: __ENV.TOKEN_ENDPOINT,
  clientId: __ENV.CLIENT_ID,
  clientSecret: __ENV.CLIENT_SECRET || '',
  redirectUri: __ENV.REDIRECT_URI,
  scope: __ENV.SCOPE || 'openid',
};

function login() {
  const op = new Op();
  const tok = codeFlow(op, cfg, userFor(), __ENV.PASSWORD);
  if (!tok || !tok.refresh_token) {
    throw new Error(`login for a refresh token failed: ${op.failed || 'no refresh_token in the token response'}`);
  }
  return tok.refresh_token;
}

export function setup() {
  const tokens = [];
  for (let i = 0; i < VUS; i++) {
    http.cookieJar().clear(cfg.authEndpoint);
    tokens.push(login());
  }
  return { tokens };
}

let current = '';

export default function (data) {
  if (!current) current = data.tokens[(exec.vu.idInTest - 1) % data.tokens.length];
  const op = new Op();
  const body = { grant_type: 'refresh_token', refresh_token: current };
  const headers = {};
  if (cfg.clientSecret) headers.Authorization = basicAuth(cfg.clientId, cfg.clientSecret);
  else body.client_id = cfg.clientId;
  const res = http.post(cfg.tokenEndpoint, body, { headers, redirects: 0, tags: { name: 'refresh' } });
  if (op.step('refresh', res, 200)) {
    const tok = res.json();
    if (tok.refresh_token) current = tok.refresh_token;
    else op.fail('refresh: no refresh_token in the answer');
  }
  if (!op.end()) current = login();
}
