// Scenario device_poll: the cost of a device (RFC 8628) polling at the token
// endpoint. setup() starts one device grant per VU (not measured); each VU
// then polls its device code back to back, faster than the interval, so
// every answer is 400 slow_down (or authorization_pending): each poll is a
// lookup and one write of the grant's polling state, the work a waiting TV
// or CLI costs the server. One op per poll.
//
// Environment: DEVICE_ENDPOINT, TOKEN_ENDPOINT, CLIENT_ID (a public client
// with the device grant), plus VUS, DURATION, SUMMARY_FILE.
import http from 'k6/http';
import exec from 'k6/execution';
import { Op, options as opts } from './lib.js';

export { handleSummary } from './lib.js';
const VUS = Number(__ENV.VUS || 32);
export const options = opts(VUS);

export function setup() {
  const codes = [];
  for (let i = 0; i < VUS; i++) {
    const res = http.post(__ENV.DEVICE_ENDPOINT, { client_id: __ENV.CLIENT_ID, scope: 'openid' });
    if (res.status !== 200) throw new Error(`device authorization: HTTP ${res.status} ${res.body}`);
    codes.push(res.json().device_code);
  }
  return { codes };
}

export default function (data) {
  const code = data.codes[(exec.vu.idInTest - 1) % data.codes.length];
  const op = new Op();
  const res = http.post(__ENV.TOKEN_ENDPOINT, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: code, client_id: __ENV.CLIENT_ID,
  }, { redirects: 0, tags: { name: 'poll' } });
  if (op.step('poll', res, 400)) {
    const err = res.json().error;
    if (err !== 'slow_down' && err !== 'authorization_pending') op.fail(`poll: ${err}`);
  }
  op.end();
}
