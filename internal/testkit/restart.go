package testkit

import "net/http"

// Restart stops the server (its workers finish, the store is checked and
// closed) and starts a new one on the same bbolt file, config, mail server,
// clock and URL, as a process restart would. Requests arriving in between
// get 503. Env.Store and Env.Server point at the new instances afterwards.
func (e *Env) Restart() {
	e.T.Helper()
	starting := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "restarting", http.StatusServiceUnavailable)
	}))
	e.handler.Store(&starting)
	e.stop()
	e.start(e.Config, e.handler)
}
