// Latchkey's session-status iframe for Keycloak's JavaScript adapter.
//
// The adapter posts "<client_id> <session_state>" to this frame; the answer
// goes back to the posting window, at its own origin: "unchanged" when the
// browser's SSO session is the one in session_state (both empty counts as
// unchanged: no session then, none now), "changed" when it ended or is
// another one, "error" for a client or origin the realm does not allow.
// The session cookie is HttpOnly, so the frame asks its own server, which
// reads it; the cookie's value never reaches script.
(() => {
  'use strict'
  const statusURL = location.pathname + '/status'
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

  // check asks the server. A network failure or a 5xx is retried twice:
  // the adapter treats anything but "unchanged" as a logout, so a blip must
  // not sign the user out of the application.
  async function check (clientId, origin, sessionState) {
    const query = new URLSearchParams({ client_id: clientId, origin, session_state: sessionState })
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(statusURL + '?' + query, { credentials: 'same-origin', cache: 'no-store' })
        if (res.status < 500) {
          const text = res.ok ? (await res.text()).trim() : 'error'
          return text === 'unchanged' || text === 'changed' ? text : 'error'
        }
      } catch (e) {
        // Retried below.
      }
      if (attempt >= 2) {
        return 'error'
      }
      await pause(1000 * (attempt + 1))
    }
  }

  window.addEventListener('message', async (event) => {
    // An opaque origin ("null") can be neither checked nor answered.
    if (typeof event.data !== 'string' || !event.source || event.origin === 'null') {
      return
    }
    const parts = event.data.split(' ')
    if (parts.length !== 2) {
      return
    }
    const result = await check(parts[0], event.origin, parts[1])
    event.source.postMessage(result, event.origin)
  })
})()
