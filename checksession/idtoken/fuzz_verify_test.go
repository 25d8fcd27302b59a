package idtoken

import (
	"context"
	"errors"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"slices"
	"strings"
	"testing"
)

// checkNames are the prefixes a Verify description may start with.
var checkNames = []string{"malformed", "alg", "signature", "iss", "sub", "aud", "azp", "exp", "iat", "nbf", "nonce", "auth_time", "at_hash"}

// FuzzVerify feeds Verify arbitrary strings. Nothing may panic, every
// failure must be an invalid_token naming a check, and only what the issuer
// actually signed may pass. The seeds run as an ordinary test.
func FuzzVerify(f *testing.F) {
	iss := idtokentest.NewIssuer(f)
	claims := iss.Claims(idtokentest.Now)
	rs := iss.Sign(f, claims)
	es := iss.Sign(f, claims, idtokentest.WithAlg("ES256"))
	signed := []string{signingInput(rs), signingInput(es)}

	for _, seed := range []string{
		rs, es,
		"", ".", "..", "...", "a.b.c", "a.b", "e30.e30.", "e30.e30.e30",
		"eyJhbGciOiJub25lIn0.e30.", "bnVsbA.bnVsbA.", "W10.W10.", "IiI.IiI.",
		"eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjFlMzA5fQ.c2ln",
		"eyJhbGciOiJSUzI1NiIsImtpZCI6W119.e30.c2ln",
		"eyJhbGciOjF9.e30.c2ln",
		rs + ".", rs[:len(rs)-1], rs + "A", strings.Replace(rs, ".", "..", 1),
		strings.ToUpper(rs), es[:len(es)/2],
		iss.Sign(f, claims, idtokentest.WithAlg("none")),
		iss.Sign(f, claims, idtokentest.WithAlg("HS256")),
		iss.Sign(f, claims, idtokentest.WithAlg("ES256"), idtokentest.WithKid("rsa-0")),
		iss.Sign(f, claims, idtokentest.WithBadSignature()),
		iss.Sign(f, claims, idtokentest.WithHeader("crit", []string{"b64"})),
		iss.Sign(f, map[string]any{"iss": 1, "aud": map[string]any{}, "exp": "x", "iat": nil}),
		iss.Sign(f, map[string]any{"iss": iss.URL, "sub": "s", "aud": []any{nil}, "exp": -1e20, "iat": 1e20}),
		strings.Repeat("A", 70<<10),
	} {
		f.Add(seed)
	}

	v := newTestVerifier(iss, newFakeClock(idtokentest.Now), nil)
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := v.Verify(context.Background(), raw, Expected{Nonce: idtokentest.Nonce})
		if err == nil {
			if !slices.Contains(signed, signingInput(raw)) {
				t.Fatalf("accepted a token the issuer did not sign: %q (claims %v)", raw, got)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not a failed check", err, err)
		}
		if !slices.Contains(checkNames, e.Check) {
			t.Fatalf("error %q does not name a check", e.Error())
		}
	})
}

// signingInput is the part of a compact JWS that its signature covers.
func signingInput(raw string) string {
	i := strings.LastIndex(raw, ".")
	if i < 0 {
		return ""
	}
	return raw[:i]
}
