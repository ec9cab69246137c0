package magiclink

import (
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/platform/httpx"
)

// SubSystem is the subSystem number every answer carries: the value the
// KOBIL magic-link API's existing clients were written against.
const SubSystem = 5

// Messages of the API: the KOBIL API's own texts, which its existing clients
// were written against, and Latchkey's for statuses that API never answers.
const (
	MsgSent           = "Mail was sent successfully to provided email id with magic link"
	MsgResponseType   = "Invalid response type or response mode"
	MsgUserNotPresent = "User is not present, Please enable user"
	MsgRealmNotFound  = "Realm does not exist"
	MsgHTTPSRequired  = "HTTPS required"
	MsgMailFailed     = "Mail could not be sent, please try again later"
	MsgInternal       = "Internal server error"
)

// Error is a refusal of the magic-link API: an HTTP status and the message
// the API's {message,status,subSystem} body carries. Err, when set, is the
// underlying cause (logged, never sent).
type Error struct {
	Code       int
	Message    string
	RetryAfter time.Duration // 429: sent as Retry-After
	Err        error
}

// Error describes the refusal and its cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func badRequest(msg string) *Error { return &Error{Code: http.StatusBadRequest, Message: msg} }

// statusText is the status string of each HTTP status: "Ok" and
// "BAD REQUEST" spelled as the KOBIL API spells them (clients compare them),
// the reason phrase otherwise.
func statusText(code int) string {
	switch code {
	case http.StatusOK:
		return "Ok"
	case http.StatusBadRequest:
		return "BAD REQUEST"
	case http.StatusRequestEntityTooLarge:
		return "Payload Too Large" // RFC 9110's name; Go still says "Request Entity Too Large"
	}
	return http.StatusText(code)
}

// Response is the body of every answer of the API.
type Response struct {
	Message   string `json:"message"`
	Status    string `json:"status"`
	SubSystem int    `json:"subSystem"`
}

// writeResponse writes the API's body with the status code.
func writeResponse(w http.ResponseWriter, code int, msg string) {
	httpx.WriteJSON(w, code, Response{Message: msg, Status: statusText(code), SubSystem: SubSystem})
}
