package credentials

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
)

// Messages of /wf/generate-user-token. The API document fixes only the
// shapes; the 400 wording follows the workflow engine this API stands in for.
const (
	wfName             = "generate-user-token"
	wfStatusSuccess    = "success"
	wfStatusMissing    = "MISSING_DATA"
	msgWFUnauthorized  = "Invalid email or password"
	msgWFNotFound      = "Workflow not found"
	msgWFRealmNotFound = "Realm not found"
	msgWFMethod        = "Method not allowed, use POST"
	msgWFTooLarge      = "Request body too large"
	msgWFLocked        = "Too many failed login attempts, please try again later"
	msgWFRateLimited   = "Too many requests, please try again later"
	msgWFUnavailable   = "Service temporarily unavailable"
	msgWFInternal      = "Internal server error"
	// wfInternalCode is the 500's code when no request id is known.
	wfInternalCode = "INTERNAL_ERROR"
)

// wfRequest is the documented request body.
type wfRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

// wfResponse is the documented 200 body.
type wfResponse struct {
	Status   string     `json:"status"`
	Response wfTokenSet `json:"response"`
}

type wfTokenSet struct {
	UserID  string  `json:"user_id"`
	Token   string  `json:"token"`
	Expires seconds `json:"expires"`
}

// seconds is a duration in seconds that always encodes as a JSON float
// (3600.0): the API document types expires as number(float), and clients
// may parse it as one.
type seconds float64

// MarshalJSON implements json.Marshaler.
func (s seconds) MarshalJSON() ([]byte, error) {
	b := strconv.AppendFloat(nil, float64(s), 'f', -1, 64)
	if !strings.ContainsAny(string(b), ".eE") {
		b = append(b, '.', '0')
	}
	return b, nil
}

// wfStatusError is the documented 400 body.
type wfStatusError struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// wfCodeError is the documented 500 body.
type wfCodeError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// wfMessage is the documented body of every other error.
type wfMessage struct {
	Message string `json:"message"`
}

// generateUserToken serves POST /wf/generate-user-token: {"email","password"}
// → user id and token. Unknown email, wrong password and disabled user get the
// same 401 (and the same argon2id cost), so the API does not reveal accounts.
func (h *Handler) generateUserToken(c *jsonapi.Call) error {
	if err := c.AllowIP(); err != nil {
		return err
	}
	var req wfRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	prefix := "Missing parameter for workflow " + wfName + ": parameter "
	u, raw, claims, err := h.issue(c, apiWFToken, req.Email, req.Password, inputRules{
		missingEmail: prefix + "email", missingPassword: prefix + "password",
		passwordTooLong: "Invalid data for workflow " + wfName + ": parameter password is too long",
		invalidEmail:    &inputError{msg: "Invalid data for workflow " + wfName + ": parameter email is not an email address"},
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(c.W, http.StatusOK, wfResponse{Status: wfStatusSuccess, Response: wfTokenSet{
		UserID: u.ID, Token: raw, Expires: seconds(claims.Expiry - claims.IssuedAt),
	}})
	return nil
}

// writeWFError answers err in /wf/generate-user-token's shapes.
func writeWFError(w http.ResponseWriter, r *http.Request, err error) int {
	jsonapi.SetRetryAfter(w, err)
	var input *inputError
	var locked *realm.LockedError
	var limited *jsonapi.LimitedError
	status, msg := http.StatusInternalServerError, msgWFInternal
	switch {
	case errors.Is(err, jsonapi.ErrRealmNotFound):
		status, msg = http.StatusNotFound, msgWFRealmNotFound
	case errors.Is(err, errWorkflowNotFound):
		status, msg = http.StatusNotFound, msgWFNotFound
	case errors.Is(err, jsonapi.ErrMethodNotAllowed):
		status, msg = http.StatusMethodNotAllowed, msgWFMethod
	case errors.Is(err, jsonapi.ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, msgWFTooLarge
	case errors.As(err, &input):
		httpx.WriteJSON(w, http.StatusBadRequest, wfStatusError{Status: wfStatusMissing, Message: input.msg})
		return http.StatusBadRequest
	case errors.As(err, &locked):
		status, msg = http.StatusTooManyRequests, msgWFLocked
	case errors.As(err, &limited):
		status, msg = http.StatusTooManyRequests, msgWFRateLimited
	case errors.Is(err, realm.ErrUnknownUser), errors.Is(err, realm.ErrWrongPassword), errors.Is(err, realm.ErrUserDisabled):
		status, msg = http.StatusUnauthorized, msgWFUnauthorized
	case jsonapi.IsUnavailable(err):
		status, msg = http.StatusServiceUnavailable, msgWFUnavailable
	default:
		// The code is the request id, which the log line of the fault
		// carries: what a caller quotes in a bug report.
		code := httpx.RequestID(r.Context())
		if code == "" {
			code = wfInternalCode
		}
		httpx.WriteJSON(w, http.StatusInternalServerError, wfCodeError{Code: code, Message: msgWFInternal})
		return http.StatusInternalServerError
	}
	httpx.WriteJSON(w, status, wfMessage{Message: msg})
	return status
}
