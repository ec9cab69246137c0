package credentials

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/latchkey/latchkey/internal/jsonapi"
	"github.com/latchkey/latchkey/internal/platform/httpx"
	"github.com/latchkey/latchkey/realm"
)

// Messages of /user/login. The 200, 404 and 405 texts are fixed by the API
// document its existing clients were written against.
const (
	msgLoginSuccess         = "Success"
	msgLoginInvalidUser     = "Please provide valid user details"
	msgLoginInvalidPassword = "Please provide valid password"
	msgLoginRealmNotFound   = "Realm not found"
	msgLoginMethod          = "Method not allowed"
	msgLoginTooLarge        = "Request body too large"
	msgLoginLocked          = "Too many failed login attempts, please try again later"
	msgLoginRateLimited     = "Too many requests, please try again later"
	msgLoginUnavailable     = "Service temporarily unavailable"
	msgLoginInternal        = "Internal server error"
)

// loginRequest is the documented request body. Pointers tell a missing or null
// field from an empty one only for the error message; both are "required".
type loginRequest struct {
	EmailID  *string `json:"emailId"`
	Password *string `json:"password"`
}

// loginResponse is the documented envelope; the HTTP status always equals
// ResponseCode.
type loginResponse struct {
	ResponseCode    int        `json:"responseCode"`
	ResponseMessage string     `json:"responseMessage"`
	ResponseData    *loginData `json:"responseData,omitempty"`
}

// loginData is the documented success payload, in the documented field order.
type loginData struct {
	Token  string `json:"token"`
	APIKey string `json:"apiKey"`
	// Expiry is the token's remaining lifetime in seconds, a string as clients expect.
	Expiry  string `json:"expiry"`
	EmailID string `json:"emailId"`
}

// userLogin serves POST /user/login: {"emailId","password"} → token and API key.
//
// An emailId that is not an email address gets the documented 404 ("the email
// provided is invalid or the user does not exist"), and so does a disabled
// user, whose password is not checked: the answer does not tell a disabled
// account from a missing one, nor confirm its password.
func (h *Handler) userLogin(c *jsonapi.Call) error {
	if err := c.AllowIP(); err != nil {
		return err
	}
	var req loginRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	u, raw, claims, err := h.issue(c, apiUserLogin, req.EmailID, req.Password, inputRules{
		missingEmail: "emailId is required", missingPassword: "password is required",
		passwordTooLong: "password is too long", invalidEmail: errInvalidEmail,
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(c.W, http.StatusOK, loginResponse{
		ResponseCode: http.StatusOK, ResponseMessage: msgLoginSuccess,
		ResponseData: &loginData{
			Token: raw, APIKey: h.o.APIKeys.Key(u),
			Expiry:  strconv.FormatInt(claims.Expiry-claims.IssuedAt, 10),
			EmailID: u.Email,
		},
	})
	return nil
}

// writeLoginError answers err in /user/login's shape.
func writeLoginError(w http.ResponseWriter, _ *http.Request, err error) int {
	status, msg := loginErrorStatus(err)
	jsonapi.SetRetryAfter(w, err)
	httpx.WriteJSON(w, status, loginResponse{ResponseCode: status, ResponseMessage: msg})
	return status
}

func loginErrorStatus(err error) (int, string) {
	var input *inputError
	var locked *realm.LockedError
	var limited *jsonapi.LimitedError
	switch {
	case errors.Is(err, jsonapi.ErrRealmNotFound):
		return http.StatusNotFound, msgLoginRealmNotFound
	case errors.Is(err, jsonapi.ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed, msgLoginMethod
	case errors.Is(err, jsonapi.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, msgLoginTooLarge
	case errors.As(err, &input):
		return http.StatusBadRequest, input.msg
	case errors.As(err, &locked):
		return http.StatusTooManyRequests, msgLoginLocked
	case errors.As(err, &limited):
		return http.StatusTooManyRequests, msgLoginRateLimited
	case errors.Is(err, realm.ErrUnknownUser), errors.Is(err, realm.ErrUserDisabled), errors.Is(err, errInvalidEmail):
		return http.StatusNotFound, msgLoginInvalidUser
	case errors.Is(err, realm.ErrWrongPassword):
		return http.StatusMethodNotAllowed, msgLoginInvalidPassword
	case jsonapi.IsUnavailable(err):
		return http.StatusServiceUnavailable, msgLoginUnavailable
	default:
		return http.StatusInternalServerError, msgLoginInternal
	}
}
