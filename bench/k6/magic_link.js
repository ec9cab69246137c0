// Scenario ml_consume: a magic link from issuance to tokens, one op per
// link: POST the magic-link API (the server mails the link to the loopback
// SMTP sink), fetch that link from the sink, GET the confirm page, POST it
// (the link is consumed, a session starts, the browser is redirected with a
// code), exchange the code. Each VU mails its own address, so that "the
// latest link wins" never kills a link another VU is about to click. The
// sink's time is not part of op_duration.
//
// Environment: ACCESS_LINK_URL, TOKEN_ENDPOINT, SERVICE_TOKEN_ENDPOINT,
// SERVICE_ID, SERVICE_SECRET, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// SINK_URL, VUS, DURATION, SUMMARY_FILE.
import http from 'k6/http';
import exec from 'k6/execution';
import { Op, basicAuth, exchangeCode, follow, options as opts, param, parseForm } from './lib.js';

export { handleSummary } from './lib.js';
export const options = opts(16);

const cfg = {
  tokenEndpoint: __ENV.TOKEN_ENDPOINT,
  clientId: __ENV.CLIENT_ID,
  clientSecret: __ENV.CLIENT_SECRET,
  redirectUri: __ENV.REDIRECT_URI,
};

export function setup() {
  const res = http.post(__ENV.SERVICE_TOKEN_ENDPOINT, { grant_type: 'client_credentials' },
    { headers: { Authorization: basicAuth(__ENV.SERVICE_ID, __ENV.SERVICE_SECRET) } });
  if (res.status !== 200) throw new Error(`service token: HTTP ${res.status}`);
  return { token: res.json().access_token };
}

export default function (data) {
  const op = new Op();
  const email = `ml-vu${exec.vu.idInTest}@bench.test`;
  let res = http.post(__ENV.ACCESS_LINK_URL, JSON.stringify({
    email, clientId: cfg.clientId, redirectUri: cfg.redirectUri, scope: 'openid',
    responseMode: 'query', responseType: 'code', forceCreate: true,
  }), { headers: { Authorization: `Bearer ${data.token}`, 'Content-Type': 'application/json' }, tags: { name: 'access-link' } });
  if (!op.step('access-link', res, 200)) return op.end();

  const mail = http.get(`${__ENV.SINK_URL}/next-link?to=${encodeURIComponent(email)}&wait=10s`, { tags: { name: 'sink' } });
  if (mail.status !== 200) {
    op.fail(`sink: no link mailed to ${email} (HTTP ${mail.status})`);
    return op.end();
  }
  res = http.get(mail.body, { redirects: 0, tags: { name: 'confirm-page' } });
  let f = follow(op, 'confirm-redirect', res, cfg.redirectUri);
  if (!f.location) {
    if (!op.step('confirm page', f.res, 200)) return op.end();
    const form = parseForm(f.res);
    if (!form) {
      op.fail('confirm page: no form');
      return op.end();
    }
    res = http.post(form.action, form.fields, { redirects: 0, tags: { name: 'confirm' } });
    if (!op.step('confirm', res, [200, 302, 303])) return op.end();
    f = follow(op, 'landing-redirect', res, cfg.redirectUri);
    if (!f.location) {
      op.fail(`confirm: ended at HTTP ${f.res.status}, not at the redirect URI`);
      return op.end();
    }
  }
  const code = param(f.location, 'code');
  if (!code) {
    op.fail(`landing: no code (${param(f.location, 'error') || 'no error either'})`);
    return op.end();
  }
  exchangeCode(op, cfg, code, undefined);
  op.end();
}
