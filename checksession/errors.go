package checksession

import "errors"

// Error is every failure silentauth reports. Code is the OAuth-style code
// ("login_required", "timeout", "invalid_token", ...) that JS sees as
// err.error; Description is err.error_description.
type Error struct {
	Code        string
	Description string
	// State is the state parameter of the request that failed, when one was sent.
	State string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Is makes errors.Is(err, ErrTimeout) match any *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The codes silentauth itself produces, and the prompt=none errors every
// server sends: one table, ErrorCodes, in silentauth.d.ts's ErrorCode order
// (a test holds them to it). ErrTimeout is JS's error "timeout".
var (
	ErrLoginRequired            = &Error{Code: "login_required"}
	ErrConsentRequired          = &Error{Code: "consent_required"}
	ErrInteractionRequired      = &Error{Code: "interaction_required"}
	ErrAccountSelectionRequired = &Error{Code: "account_selection_required"}
	ErrTimeout                  = &Error{Code: "timeout"}
	ErrInvalidToken             = &Error{Code: "invalid_token"}
	ErrInvalidState             = &Error{Code: "invalid_state"}
	ErrOriginMismatch           = &Error{Code: "origin_mismatch"}
	ErrInvalidConfiguration     = &Error{Code: "invalid_configuration"}
	// ErrNetwork is a request to the server that never got an HTTP answer
	// (offline, DNS, CORS refusal). Renewal retries it like a timeout.
	ErrNetwork = &Error{Code: "network_error"}
	// ErrServer is a token or discovery endpoint that answered with an
	// unusable response.
	ErrServer = &Error{Code: "server_error"}
	// ErrDestroyed is returned by every call on a destroyed client.
	ErrDestroyed = &Error{Code: "destroyed", Description: "the client was destroyed"}
	// ErrUnexpected is a bug in silentauth caught before it could stop the
	// runtime: a recovered panic. The JS loader uses the same code.
	ErrUnexpected = &Error{Code: "unexpected_error"}
	// ErrMissingRefreshToken: useRefreshTokens without fallback, and no
	// refresh token is held.
	ErrMissingRefreshToken = &Error{Code: "missing_refresh_token"}
	// ErrInvalidGrant: the token endpoint refused the refresh token
	// (expired, revoked, reused). The server's own description passes through.
	ErrInvalidGrant = &Error{Code: "invalid_grant"}
	// ErrPopupBlocked: the browser refused to open loginWithPopup's window
	// (not called from a user gesture, or popups blocked for the site).
	ErrPopupBlocked = &Error{Code: "popup_blocked"}
	// ErrPopupClosed: loginWithPopup's window closed before it answered.
	ErrPopupClosed = &Error{Code: "popup_closed"}
)

// ErrorCodes is every code above; EndsSession marks those that mean the
// user must log in interactively (API.md, session_ended).
var ErrorCodes = []struct {
	Err         *Error
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

// TimeoutDescription is auth0.js's wording, kept so that code matching on
// it keeps working when it moves to silentauth.
const TimeoutDescription = "Timeout during executing web_message communication"

// newError builds an *Error with the given code and description.
func newError(code, description string) *Error {
	return &Error{Code: code, Description: description}
}

// configError names the option that is wrong.
func configError(option, problem string) *Error {
	return newError(ErrInvalidConfiguration.Code, option+": "+problem)
}

// tokenError names the ID-token check that failed.
func tokenError(check, problem string) *Error {
	return newError(ErrInvalidToken.Code, check+": "+problem)
}

// EndsSession reports whether err means the user must log in interactively:
// its code is one ErrorCodes marks as ending the session.
func EndsSession(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range ErrorCodes {
		if c.Err.Code == e.Code {
			return c.EndsSession
		}
	}
	return false
}
