// Second step of Keycloak's third-party-cookie probe: the server put its
// finding on the root element (whether the cookie step1 set came back, under
// the same SameSite rules as the SSO session cookie); tell the adapter.
(() => {
  'use strict'
  const supported = document.documentElement.dataset.result === 'supported'
  window.parent.postMessage(supported ? 'supported' : 'unsupported', '*')
})()
