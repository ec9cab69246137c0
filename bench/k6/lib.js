// Shared pieces of the k6 scenarios (bench/k6/*.js): options, metrics, the
// summary that bench/run.sh reads, form parsing and the OIDC code flow.
//
// Every scenario measures "operations": one whole flow (code flow, magic
// link) or one request (refresh rotation). op_duration is the sum of the
// server's response times of the op's requests (k6's own scripting time and
// the mail sink's time are left out); an op with any unexpected answer is
// counted in op_errors instead of ops.
import http from 'k6/http';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter, Trend } from 'k6/metrics';

export const ops = new Counter('ops');
export const opErrors = new Counter('op_errors');
export const opDuration = new Trend('op_duration', true);

// options returns constant-VU options from the environment: VUS, DURATION.
export function options(defaultVUs) {
  return {
    scenarios: {
      main: {
        executor: 'constant-vus',
        vus: Number(__ENV.VUS || defaultVUs),
        duration: __ENV.DURATION || '10s',
        gracefulStop: '5s',
      },
    },
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(90)', 'p(99)'],
    setupTimeout: '180s',
    insecureSkipTLSVerify: true,
  };
}

// handleSummary writes the numbers run.sh needs to SUMMARY_FILE.
export function handleSummary(data) {
  const m = data.metrics;
  const v = (name, stat) => (m[name] && m[name].values[stat]) || 0;
  const out = {
    ops: v('ops', 'count'),
    errors: v('op_errors', 'count'),
    p50_ms: v('op_duration', 'p(50)'),
    p90_ms: v('op_duration', 'p(90)'),
    p99_ms: v('op_duration', 'p(99)'),
    avg_ms: v('op_duration', 'avg'),
    http_reqs: v('http_reqs', 'count'),
    run_ms: data.state.testRunDurationMs,
  };
  return { [__ENV.SUMMARY_FILE || 'stdout']: JSON.stringify(out) + '\n' };
}

// Op tracks one operation: its server time and whether every step answered
// as expected.
export class Op {
  constructor() {
    this.ms = 0;
    this.failed = '';
  }

  // step records res and checks its status against want (a number or an
  // array). It returns whether the op may go on.
  step(name, res, want) {
    this.ms += res.timings.duration;
    const ok = Array.isArray(want) ? want.includes(res.status) : res.status === want;
    if (!ok && !this.failed) {
      this.failed = `${name}: HTTP ${res.status}${res.error ? ' ' + res.error : ''}`;
    }
    return ok;
  }

  // fail marks the op failed and returns null, for `return op.fail(...)`.
  fail(why) {
    if (!this.failed) this.failed = why;
    return null;
  }

  // end counts the op; a few failures per VU are logged to help diagnose.
  end() {
    if (this.failed) {
      opErrors.add(1);
      logFailure(this.failed);
      return false;
    }
    ops.add(1);
    opDuration.add(this.ms);
    return true;
  }
}

let logged = 0;
function logFailure(msg) {
  if (logged < 3) {
    logged++;
    console.warn(`VU ${__VU}: ${msg}`);
  }
}

// randomToken returns n random bytes, base64url-encoded.
export function randomToken(n) {
  return encoding.b64encode(crypto.randomBytes(n), 'rawurl');
}

// basicAuth is the client_secret_basic header value (RFC 6749 §2.3.1).
export function basicAuth(id, secret) {
  return 'Basic ' + encoding.b64encode(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`);
}

// query builds an application/x-www-form-urlencoded string.
export function query(params) {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined && params[k] !== null)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(params[k])}`)
    .join('&');
}

// resolve makes a Location header absolute against the URL it came from.
export function resolve(base, loc) {
  if (/^https?:\/\//i.test(loc)) return loc;
  const origin = base.match(/^https?:\/\/[^/]+/i)[0];
  if (loc.startsWith('/')) return origin + loc;
  const dir = base.split('?')[0].replace(/[^/]*$/, '');
  return dir + loc;
}

// param returns a query parameter of a URL, or ''.
export function param(url, name) {
  const q = url.split('#')[0].split('?')[1] || '';
  for (const kv of q.split('&')) {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    if (decodeURIComponent(k) === name) return decodeURIComponent((i < 0 ? '' : kv.slice(i + 1)).replace(/\+/g, ' '));
  }
  return '';
}

// parseForm returns the action and the hidden fields of the page's first
// form that has a password field (else its first form), or null.
export function parseForm(res) {
  const doc = res.html();
  let form = doc.find('form:has(input[type=password])').first();
  if (form.size() === 0) form = doc.find('form').first();
  if (form.size() === 0) return null;
  const fields = {};
  form.find('input[type=hidden]').toArray().forEach((el) => {
    const name = el.attr('name');
    if (name) fields[name] = el.attr('value') || '';
  });
  return { action: resolve(res.url, form.attr('action') || res.url), fields };
}

// follow follows redirects (up to 10) until a page is reached or the
// Location starts with stopAt; it returns { res, location } where location
// is that final redirect target ('' when a page was reached).
export function follow(op, name, res, stopAt) {
  for (let i = 0; i < 10; i++) {
    if (res.status < 300 || res.status >= 400) return { res, location: '' };
    const loc = resolve(res.url, res.headers.Location || res.headers.location || '');
    if (loc.startsWith(stopAt)) return { res, location: loc };
    res = http.get(loc, { redirects: 0, tags: { name } });
    op.ms += res.timings.duration;
  }
  return { res, location: '' };
}

// codeFlow runs the authorization-code flow with PKCE through the login
// form: authorize → login page → POST credentials → callback → token. cfg:
// { authEndpoint, tokenEndpoint, clientId, clientSecret (optional),
//   redirectUri, scope }. It returns the token response or null.
export function codeFlow(op, cfg, username, password) {
  const verifier = randomToken(48);
  const state = randomToken(12);
  const url = cfg.authEndpoint + '?' + query({
    client_id: cfg.clientId, response_type: 'code', scope: cfg.scope || 'openid',
    redirect_uri: cfg.redirectUri, state, nonce: randomToken(12),
    code_challenge: crypto.sha256(verifier, 'base64rawurl'), code_challenge_method: 'S256',
  });
  let res = http.get(url, { redirects: 0, tags: { name: 'authorize' } });
  op.ms += res.timings.duration;
  let f = follow(op, 'authorize-redirect', res, cfg.redirectUri);
  if (!f.location) { // a login page, unless an SSO session answered at once
    if (!op.step('login page', f.res, 200)) return null;
    const form = parseForm(f.res);
    if (!form) return op.fail('login page: no form');
    const fields = Object.assign({}, form.fields, { username, password });
    res = http.post(form.action, fields, { redirects: 0, tags: { name: 'login' } });
    if (!op.step('login', res, [302, 303])) return null;
    f = follow(op, 'callback', res, cfg.redirectUri);
    if (!f.location) return op.fail(`login: ended at HTTP ${f.res.status}, not at the redirect URI`);
  }
  const code = param(f.location, 'code');
  if (!code) return op.fail(`callback without code: ${param(f.location, 'error') || f.location.slice(0, 80)}`);
  if (param(f.location, 'state') !== state) return op.fail('callback: state mismatch');
  return exchangeCode(op, cfg, code, verifier);
}

// exchangeCode trades an authorization code (and its PKCE verifier, if
// any) for tokens.
export function exchangeCode(op, cfg, code, verifier) {
  const body = { grant_type: 'authorization_code', code, redirect_uri: cfg.redirectUri };
  if (verifier) body.code_verifier = verifier;
  const headers = {};
  if (cfg.clientSecret) headers.Authorization = basicAuth(cfg.clientId, cfg.clientSecret);
  else body.client_id = cfg.clientId;
  const res = http.post(cfg.tokenEndpoint, body, { headers, redirects: 0, tags: { name: 'token' } });
  if (!op.step('token', res, 200)) return null;
  const tok = res.json();
  if (!tok.access_token) return op.fail('token: no access_token');
  return tok;
}

// userFor returns the login of this iteration: USER, or with USER_COUNT set,
// USER_FMT with "{i}" replaced by a random index (scale mode).
export function userFor() {
  const n = Number(__ENV.USER_COUNT || 0);
  if (n > 0) return (__ENV.USER_FMT || '').replace('{i}', String(Math.floor(Math.random() * n)));
  return __ENV.USER;
}
