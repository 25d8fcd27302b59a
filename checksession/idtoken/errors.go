package idtoken

// Error is an ID token, or the key set it needs, that failed a check. Check
// names it (malformed, alg, signature, iss, sub, aud, azp, exp, iat, nbf,
// nonce, auth_time, at_hash, or jwks for a key set document that cannot be
// used); Problem says what was expected and what arrived.
type Error struct {
	Check   string
	Problem string
}

func (e *Error) Error() string { return e.Check + ": " + e.Problem }

// tokenError names the check that failed.
func tokenError(check, problem string) *Error {
	return &Error{Check: check, Problem: problem}
}

// Is makes errors.Is(err, &Error{Check: "jwks"}) match any failure of that
// check.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Check == e.Check
}
