package checksession

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/platform"
)

// tokenVerifier is the issuer's idtoken.Verifier, reporting failures as
// *Error: a failed check is invalid_token (server_error for an unusable key
// set document), and each caller gets its own copy of a key set fetch's
// error, since callers set State on it.
type tokenVerifier struct{ v *idtoken.Verifier }

// Verify checks raw and returns its claims.
func (t tokenVerifier) Verify(ctx context.Context, raw string, exp idtoken.Expected) (map[string]any, error) {
	claims, err := t.v.Verify(ctx, raw, exp)
	var te *idtoken.Error
	var e *Error
	switch {
	case err == nil:
		return claims, nil
	case errors.As(err, &te) && te.Check == "jwks":
		return nil, newError(string(ErrServer), te.Error())
	case errors.As(err, &te):
		return nil, tokenError(te.Check, te.Problem)
	case errors.As(err, &e):
		c := *e
		return nil, &c
	}
	return nil, err
}

// PrefetchKeys starts getting the issuer's keys if verifying would have to.
func (t tokenVerifier) PrefetchKeys(ctx context.Context) { t.v.PrefetchKeys(ctx) }

// lazyVerifier is the ID-token verifier, built at its first use, once the
// issuer is known; it fetches the key set through the browser.
type lazyVerifier struct {
	s       *settings
	browser platform.Browser
	clock   platform.Clock

	once sync.Once
	v    tokenVerifier
}

// forIssuer builds the ID-token verifier once the issuer is known.
func (l *lazyVerifier) forIssuer(m *serverMetadata) tokenVerifier {
	l.once.Do(func() {
		jwksURI := m.JWKSURI
		keys := idtoken.NewKeySetWithMaxAge(func(ctx context.Context) ([]byte, time.Duration, error) {
			resp, err := l.browser.Fetch(ctx, platform.HTTPRequest{Method: "GET", URL: jwksURI})
			if err != nil {
				return nil, 0, newError(string(ErrNetwork), "jwks: the key set at "+jwksURI+" got no answer ("+err.Error()+")")
			}
			if resp.Status != 200 {
				return nil, 0, withServerWait(newError(string(ErrServer), "jwks: the key set at "+jwksURI+" answered HTTP "+strconv.Itoa(resp.Status)),
					resp.Status, resp.Header, l.clock.Now())
			}
			return resp.Body, idtoken.MaxAgeFromCacheControl(resp.Header["cache-control"]), nil
		}, idtoken.WithClock(l.clock.Now), idtoken.WithGoroutines(goSafe)) // the refetch cooldown runs on the client's clock
		l.v = tokenVerifier{idtoken.NewVerifier(idtoken.VerifierConfig{
			Issuer:   m.Issuer,
			ClientID: l.s.ClientID,
			Leeway:   l.s.leeway,
			Now:      l.clock.Now,
			Keys:     keys,
		})}
	})
	return l.v
}
