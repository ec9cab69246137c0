package applink

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/realm"
)

// WorkflowEmail is the built-in workflow that mails each user their link.
const WorkflowEmail = "email"

// body is the wire form of a request, as the API document its existing
// clients were written against fixes it.
type body struct {
	Metadata      string   `json:"metadata"`
	WorkflowsList string   `json:"workflows_list"`
	Site          string   `json:"site"`
	Emails        []string `json:"emails"`
}

// Request is a validated generate-link request.
type Request struct {
	Site *realm.Site
	// Emails are trimmed, valid and deduplicated case-insensitively, in
	// request order.
	Emails []string
	// Workflows are "email" and/or configured workflow names, deduplicated,
	// in request order.
	Workflows []string
	Metadata  string
}

// BadRequestError is a problem with the request; its message is the API's
// 400 error text.
type BadRequestError struct{ Msg string }

func (e *BadRequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &BadRequestError{Msg: fmt.Sprintf(format, args...)}
}

// validate checks b against the realm's sites, workflows and limits. Every
// problem is a *BadRequestError naming it.
func (b *body) validate(r *realm.Realm) (Request, error) {
	if len(b.Emails) == 0 {
		return Request{}, badRequest("Missing required parameter: emails")
	}
	emails := make([]string, 0, len(b.Emails))
	seen := make(map[string]bool, len(b.Emails))
	for _, raw := range b.Emails {
		e, err := realm.NormalizeEmail(raw)
		if err != nil {
			return Request{}, badRequest("Invalid email address: %s", strings.TrimSpace(raw))
		}
		// Storage compares emails with strings.ToLower; so do we, so that
		// two spellings of one address never become two users in one call.
		if k := strings.ToLower(e); !seen[k] {
			seen[k] = true
			emails = append(emails, e)
		}
	}
	if len(emails) > r.MaxLinkEmails {
		return Request{}, badRequest("Too many emails: at most %d per request", r.MaxLinkEmails)
	}
	site := strings.TrimSpace(b.Site)
	if site == "" {
		return Request{}, badRequest("Missing required parameter: site")
	}
	s, ok := r.Site(site)
	if !ok {
		return Request{}, badRequest("Unknown site: %s", site)
	}
	var workflows []string
	for _, name := range strings.Split(b.WorkflowsList, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.Contains(workflows, name) {
			continue
		}
		if _, ok := r.Workflow(name); !ok && name != WorkflowEmail {
			return Request{}, badRequest("Unknown workflow: %s", name)
		}
		workflows = append(workflows, name)
	}
	return Request{Site: s, Emails: emails, Workflows: workflows, Metadata: b.Metadata}, nil
}
