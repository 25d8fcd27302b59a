package checksession

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestTablesCannotBeChangedByCallers pins that ErrorCodes and EventNames
// hand out copies: a caller that edits what it got changes nothing for the
// next caller or for the engine (EndsSession).
func TestTablesCannotBeChangedByCallers(t *testing.T) {
	codes := ErrorCodes()
	want := slices.Clone(codes)
	for i := range codes {
		codes[i] = "changed"
	}
	if got := ErrorCodes(); !slices.Equal(got, want) {
		t.Errorf("ErrorCodes after a caller edited its copy: %v, want %v", got, want)
	}
	if !EndsSession(&Error{Code: string(ErrLoginRequired)}) {
		t.Error("login_required no longer ends the session after a caller edited its copy")
	}
	events := EventNames()
	events[0] = "changed"
	if got := EventNames(); got[0] != EventRenewed {
		t.Errorf("EventNames after a caller edited its copy: %v", got)
	}
}

// TestErrorCodesAreUnique pins that no code is listed twice, so that
// EndsSession's answer cannot depend on which row it meets first.
func TestErrorCodesAreUnique(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range ErrorCodes() {
		if seen[c] {
			t.Errorf("%q is listed twice", c)
		}
		seen[c] = true
	}
}

// TestCodesMatchErrorsByCode pins the sentinel behaviour of the Code
// constants: errors.Is matches any *Error, wrapped or not, with the same
// code, and EndsSession reads an *Error and a bare Code alike.
func TestCodesMatchErrorsByCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		target error
		is     bool
	}{
		{"an *Error with the code", &Error{Code: "timeout", Description: "d"}, ErrTimeout, true},
		{"a wrapped *Error with the code", fmt.Errorf("renewing: %w", &Error{Code: "timeout"}), ErrTimeout, true},
		{"an *Error with another code", &Error{Code: "login_required"}, ErrTimeout, false},
		{"an *Error against another *Error", &Error{Code: "timeout"}, &Error{Code: "timeout", Description: "other"}, true},
		{"a destroyed client's error", errDestroyed(), ErrDestroyed, true},
		{"an error of another kind", errors.New("timeout"), ErrTimeout, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.is {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", tc.err, tc.target, got, tc.is)
			}
		})
	}
	for _, tc := range []struct {
		err  error
		ends bool
	}{
		{ErrLoginRequired, true},
		{&Error{Code: string(ErrConsentRequired)}, true},
		{fmt.Errorf("wrapped: %w", &Error{Code: string(ErrInvalidGrant)}), true},
		{ErrTimeout, false},
		{&Error{Code: "made_up"}, false},
		{errors.New("login_required"), false},
	} {
		if got := EndsSession(tc.err); got != tc.ends {
			t.Errorf("EndsSession(%v) = %v, want %v", tc.err, got, tc.ends)
		}
	}
	if a, b := errDestroyed(), errDestroyed(); a == b || a.Description == "" {
		t.Errorf("errDestroyed: one shared value (%p, %p) or no description (%q)", a, b, a.Description)
	}
}
