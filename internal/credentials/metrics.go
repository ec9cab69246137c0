package credentials

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/latchkey/latchkey/internal/platform/metrics"
)

// Outcomes of a password login, the outcome label of loginAttempts.
const (
	outcomeSuccess       = "success"
	outcomeUnknownUser   = "unknown_user"
	outcomeWrongPassword = "wrong_password"
	outcomeDisabled      = "disabled"
	outcomeLocked        = "locked"
	outcomeRateLimited   = "rate_limited"
	outcomeBadRequest    = "bad_request"
	outcomeError         = "error"
)

// API names, the api label of the collectors and the grant label of
// metrics.TokensIssued.
const (
	apiUserLogin = "user_login"
	apiWFToken   = "wf_token"
)

var (
	// loginAttempts counts password logins by realm, API and outcome. Requests
	// for unknown realms are not counted (their names are attacker-chosen).
	loginAttempts = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_password_logins_total",
		Help: "Password logins of the credential APIs by realm, API and outcome.",
	}, []string{"realm", "api", "outcome"})
	// lockouts counts accounts locked by the brute-force detector (once per
	// lockout, by the failure that started it).
	lockouts = promauto.With(metrics.Registry).NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_account_lockouts_total",
		Help: "Temporary account lockouts started by failed password logins, by realm and API.",
	}, []string{"realm", "api"})
)
