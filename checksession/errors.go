package checksession

import (
	"errors"
	"time"
)

// Error is every failure silentauth reports. Code is the OAuth-style code
// ("login_required", "timeout", "invalid_token", ...) that JS sees as
// err.error; Description is err.error_description.
type Error struct {
	Code        string
	Description string
	// State is the state parameter of the request that failed, when one was sent.
	State string
	// RetryAfter is set while a renewal backoff runs: the time until the
	// next attempt, in whole seconds (JS err.retryAfter).
	RetryAfter time.Duration
	// serverWait is the server's Retry-After on a 429 or 503.
	serverWait time.Duration
	// overloaded marks an answer with HTTP 429 or 5xx, whatever its code.
	overloaded bool
	// option is the Options field the error is about ("Timeout"), and
	// problem what is wrong with it; Description is then
	// "Options.Timeout: " + problem. See Option.
	option, problem string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Option is the Options field an error is about ("Timeout") and what is
// wrong with it, or "", "" when the error is about no option. Description
// names the field as a Go caller writes it ("Options.Timeout: ..."); the JS
// bridge names it with the JS option's name instead.
func (e *Error) Option() (field, problem string) { return e.option, e.problem }

// Is makes errors.Is(err, ErrTimeout) match any *Error with the same code:
// the target is a Code or another *Error.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return string(t) == e.Code
	case *Error:
		return t.Code == e.Code
	}
	return false
}

// Code is an OAuth-style error code, the Code of an *Error. The codes below
// are constants, so no caller can change them; each is an error itself, as
// syscall.Errno's are, so that errors.Is(err, ErrTimeout) reads as it would
// with sentinel variables. silentauth returns *Error, never a bare Code.
type Code string

func (c Code) Error() string { return string(c) }

// The codes silentauth itself produces, and the prompt=none errors every
// server sends, as the table errorCodes lists them (ErrorCodes). As a set
// they are silentauth.d.ts's ErrorCode, which internal/apidoc checks.
// ErrTimeout is JS's error "timeout".
const (
	ErrLoginRequired            Code = "login_required"
	ErrConsentRequired          Code = "consent_required"
	ErrInteractionRequired      Code = "interaction_required"
	ErrAccountSelectionRequired Code = "account_selection_required"
	ErrTimeout                  Code = "timeout"
	ErrInvalidToken             Code = "invalid_token"
	ErrInvalidState             Code = "invalid_state"
	ErrOriginMismatch           Code = "origin_mismatch"
	ErrInvalidConfiguration     Code = "invalid_configuration"
	// ErrNetwork is a request to the server that never got an HTTP answer
	// (offline, DNS, CORS refusal). Renewal retries it like a timeout.
	ErrNetwork Code = "network_error"
	// ErrServer is a token or discovery endpoint that answered with an
	// unusable response.
	ErrServer Code = "server_error"
	// ErrDestroyed is the code of every call on a destroyed client.
	ErrDestroyed Code = "destroyed"
	// ErrUnexpected is a bug in silentauth caught before it could stop the
	// runtime: a recovered panic. The JS loader uses the same code.
	ErrUnexpected Code = "unexpected_error"
	// ErrMissingRefreshToken: useRefreshTokens without fallback, and no
	// refresh token is held.
	ErrMissingRefreshToken Code = "missing_refresh_token"
	// ErrInvalidGrant: the token endpoint refused the refresh token
	// (expired, revoked, reused). The server's own description passes through.
	ErrInvalidGrant Code = "invalid_grant"
	// ErrPopupBlocked: the browser refused to open loginWithPopup's window
	// (not called from a user gesture, or popups blocked for the site).
	ErrPopupBlocked Code = "popup_blocked"
	// ErrPopupClosed: loginWithPopup's window closed before it answered.
	ErrPopupClosed Code = "popup_closed"
)

// errDestroyed is the error of every call on a destroyed client: a new one
// each time, so that no caller can change what the next one gets.
func errDestroyed() *Error {
	return &Error{Code: string(ErrDestroyed), Description: "the client was destroyed"}
}

// ErrorCodes is every code above, in the table's order: a new slice at
// each call, so that no caller can change the table.
func ErrorCodes() []Code {
	codes := make([]Code, len(errorCodes))
	for i, c := range errorCodes {
		codes[i] = c.Err
	}
	return codes
}

// errorCodes is every code above; EndsSession marks those that mean the
// user must log in interactively (API.md, session_ended).
var errorCodes = []struct {
	Err         Code
	EndsSession bool
}{
	{ErrLoginRequired, true},
	{ErrConsentRequired, true},
	{ErrInteractionRequired, true},
	{ErrAccountSelectionRequired, true},
	{ErrTimeout, false},
	{ErrInvalidToken, false},
	{ErrInvalidState, false},
	{ErrOriginMismatch, false},
	{ErrInvalidConfiguration, false},
	{ErrNetwork, false},
	{ErrServer, false},
	{ErrDestroyed, false},
	{ErrUnexpected, false},
	{ErrMissingRefreshToken, true},
	{ErrInvalidGrant, true},
	{ErrPopupBlocked, false},
	{ErrPopupClosed, false},
}

// timeoutDescription is auth0.js's wording, kept so that code matching on
// it keeps working when it moves to silentauth.
const timeoutDescription = "Timeout during executing web_message communication"

// newError builds an *Error with the given code and description.
func newError(code, description string) *Error {
	return &Error{Code: code, Description: description}
}

// configError names what is wrong when it is not an Options field (those
// are invalidOption's): a call parameter, a discovery field.
func configError(option, problem string) *Error {
	return newError(string(ErrInvalidConfiguration), option+": "+problem)
}

// optionError is an error with code about the Options field named field
// ("Timeout"), which it carries (Option) so that JS callers read their own
// name for it.
func optionError(code Code, field, problem string) *Error {
	e := newError(string(code), "Options."+field+": "+problem)
	e.option, e.problem = field, problem
	return e
}

// withNote is a copy of e whose description ends with note, for Go and JS
// callers alike.
func (e *Error) withNote(note string) *Error {
	noted := *e
	noted.Description += note
	if noted.option != "" {
		noted.problem += note
	}
	return &noted
}

// invalidOption is the invalid_configuration of an Options field.
func invalidOption(field, problem string) *Error {
	return optionError(ErrInvalidConfiguration, field, problem)
}

// tokenError names the ID-token check that failed.
func tokenError(check, problem string) *Error {
	return newError(string(ErrInvalidToken), check+": "+problem)
}

// EndsSession reports whether err (an *Error, or a Code itself) means the
// user must log in interactively: its code is one the table marks as ending
// the session.
func EndsSession(err error) bool {
	var code string
	var e *Error
	var c Code
	switch {
	case errors.As(err, &e):
		code = e.Code
	case errors.As(err, &c):
		code = string(c)
	default:
		return false
	}
	for _, c := range errorCodes {
		if string(c.Err) == code {
			return c.EndsSession
		}
	}
	return false
}
