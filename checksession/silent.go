package checksession

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/platform"
)

// authFlow runs the protocol of getting tokens: the silent request from
// discovery to its iframes, the completion of any authorization response
// (code exchange, ID-token verification), the refresh-token grant, and the
// verification of a result another tab shared.
type authFlow struct {
	s             *settings
	clock         platform.Clock
	browser       platform.Browser
	log           logger
	disc          *discoverer
	frames        *framer
	tokenEndpoint *tokenEndpoint
	verifier      *lazyVerifier
}

// silent runs one prompt=none request from discovery to validated result.
// refreshToken is the code exchange's refresh token, if it brought one: the
// caller decides whether this session may still keep it.
func (fl *authFlow) silent(ctx context.Context, r request) (res *AuthResult, refreshToken string, err error) {
	m, err := fl.disc.metadata(ctx)
	if err != nil {
		return nil, "", err
	}
	if !m.supportsWebMessage() {
		return nil, "", invalidOption("Domain", "the server's discovery lists response_modes_supported "+
			quote(strings.Join(m.ResponseModesSupported, " "))+" without web_message, so no silent request can be answered")
	}
	if fl.browser.CrossOriginIsolated() {
		t := newTransaction(r, fl.s.RedirectURI)
		return nil, "", &Error{Code: string(ErrTimeout), State: t.State, Description: timeoutDescription +
			". This page is cross-origin isolated (COOP/COEP), so the authorization server's iframe cannot answer it; serve the page without Cross-Origin-Embedder-Policy or renew with an interactive login."}
	}
	extra := map[string]string{"prompt": "none"}
	for k, v := range r.extra {
		if k != "prompt" {
			extra[k] = v
		}
	}
	r.extra = extra
	if err := fl.tokenEndpoint.bindAuthorize(ctx, &r); err != nil {
		return nil, "", err
	}
	attempt := func() (*transaction, string, error) {
		t := newTransaction(r, fl.s.RedirectURI)
		u, err := authorizeURL(m.AuthorizationEndpoint, fl.s.ClientID, t, r, fl.s.requestScope(t.Scope), "web_message")
		return t, u, err
	}
	t, u, err := attempt()
	if err != nil {
		return nil, "", err
	}
	t, u = fl.adoptPrestarted(ctx, m, t, r, u)
	resp, t, answered, err := fl.frames.runFrames(ctx, r, t, u, attempt)
	if err != nil {
		return nil, "", err
	}
	// The iframe that answered goes once its answer is used. Taking it away
	// costs the page's main thread a navigation to about:blank and then a
	// removal; done first, they landed while a code's token request was in
	// flight and held its answer back by some 14 ms (make bench, 1b).
	defer answered.close()
	return fl.complete(ctx, m, t, resp)
}

// complete turns an accepted response into a validated result: server
// errors pass through, codes are exchanged, ID tokens verified. A refresh
// token from the exchange comes back beside the result, never in it.
func (fl *authFlow) complete(ctx context.Context, m *serverMetadata, t *transaction, resp *authResponse) (*AuthResult, string, error) {
	// RFC 9207: a response naming another issuer is a mix-up, whatever else it says.
	if resp.Iss != "" && resp.Iss != m.Issuer {
		return nil, "", &Error{Code: string(ErrInvalidToken), State: t.State,
			Description: "iss: the authorization response names issuer " + quote(resp.Iss) + ", expected " + quote(m.Issuer)}
	}
	if resp.Error != "" {
		return nil, "", &Error{Code: resp.Error, Description: resp.ErrorDescription, State: t.State}
	}
	// The tokens' lifetime counts from the moment they can first have been
	// issued as far as the page knows: the message's arrival, or for a code
	// the moment its token request left. The server issued them after
	// that, so the expiry computed from it is never later than the real one.
	received := fl.clock.Now()
	tokens := resp
	if t.ResponseType == "code" {
		if resp.Code == "" {
			return nil, "", &Error{Code: string(ErrInvalidToken), State: t.State, Description: "code: the response carries no authorization code"}
		}
		received = fl.clock.Now()
		fl.verifier.prefetchKeys(ctx, m, t.Scope)
		var err error
		tokens, err = fl.tokenEndpoint.exchange(ctx, m, t, resp.Code)
		if err != nil {
			return nil, "", err
		}
		// The head start's exchange left before this one would have: its
		// tokens' lifetime counts from then, or they would be served past
		// their real expiry by the time the engine took to start.
		if !tokens.SentAt.IsZero() && tokens.SentAt.Before(received) {
			received = tokens.SentAt
		}
	}
	wantID := strings.Contains(t.ResponseType, "id_token") || (t.ResponseType == "code" && hasScope(t.Scope, "openid"))
	wantAT := t.ResponseType != "id_token"
	if wantID && tokens.IDToken == "" {
		return nil, "", &Error{Code: string(ErrInvalidToken), State: t.State, Description: "id_token: the response carries no ID token"}
	}
	if wantAT && tokens.AccessToken == "" {
		return nil, "", &Error{Code: string(ErrInvalidToken), State: t.State, Description: "access_token: the response carries no access token"}
	}
	res := tokens.result(received)
	res.State = t.State
	if tokens.IDToken != "" {
		claims, err := fl.verifier.forIssuer(m).Verify(ctx, tokens.IDToken, idtoken.Expected{
			Nonce:         t.Nonce,
			MaxAge:        time.Duration(t.MaxAge) * time.Second,
			HasMaxAge:     t.HasMaxAge,
			AccessToken:   tokens.AccessToken,
			RequireAtHash: t.ResponseType == "id_token token",
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.State = t.State
			}
			return nil, "", err
		}
		res.IDTokenPayload = claims
	}
	res.ExpiresAt = tokens.expiresAt(received, res.IDTokenPayload)
	return res, tokens.RefreshToken, nil
}

// prefetchKeys starts getting the issuer's keys before a grant whose answer
// carries an ID token (scope has openid), so that the key set's fetch and
// parse run while the grant is on the network instead of after its answer.
// Once the keys are fetched this does nothing until they age out.
func (l *lazyVerifier) prefetchKeys(ctx context.Context, m *serverMetadata, scope string) {
	if hasScope(scope, "openid") {
		l.forIssuer(m).PrefetchKeys(ctx)
	}
}

// result is the AuthResult the tokens make, before the ID token is verified
// and the expiry known. The refresh token stays out of it.
func (r *authResponse) result(received time.Time) *AuthResult {
	tokenType := ""
	if r.AccessToken != "" {
		tokenType = normalizeTokenType(r.TokenType) // "Bearer" also where the server named none
	}
	return &AuthResult{
		AccessToken: r.AccessToken,
		IDToken:     r.IDToken,
		ExpiresIn:   r.ExpiresIn,
		TokenType:   tokenType,
		Scope:       r.Scope,
		received:    received,
	}
}

// expiresAt is when the tokens expire on the local clock: receipt plus
// expires_in, or without it the ID token's own lifetime (exp - iat) moved
// onto the local clock; zero when neither says.
func (r *authResponse) expiresAt(received time.Time, claims map[string]any) time.Time {
	if r.HasExpiresIn {
		return received.Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	exp, _ := numberClaim(claims, "exp")
	iat, _ := numberClaim(claims, "iat")
	if exp > iat {
		return received.Add(time.Duration(exp-iat) * time.Second)
	}
	return time.Time{}
}

// numberClaim reads a numeric claim of a verified ID token: the verifier
// decodes JSON numbers as float64, as JavaScript does.
func numberClaim(claims map[string]any, name string) (int64, bool) {
	v, ok := claims[name].(float64)
	return int64(v), ok
}
