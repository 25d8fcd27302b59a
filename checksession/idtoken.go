package checksession

import (
	"context"
	"strconv"
	"time"
)

// verifierFor builds the ID-token verifier once the issuer is known.
func (c *Client) verifierFor(m *Metadata) *Verifier {
	c.verifierOnce.Do(func() {
		jwksURI := m.JWKSURI
		keys := NewKeySetWithMaxAge(func(ctx context.Context) ([]byte, time.Duration, error) {
			resp, err := c.browser.Fetch(ctx, HTTPRequest{Method: "GET", URL: jwksURI})
			if err != nil {
				return nil, 0, newError(ErrNetwork.Code, "signature: the key set at "+jwksURI+" got no answer ("+err.Error()+")")
			}
			if resp.Status != 200 {
				return nil, 0, newError(ErrServer.Code, "signature: the key set at "+jwksURI+" answered HTTP "+strconv.Itoa(resp.Status))
			}
			return resp.Body, MaxAgeFromCacheControl(resp.Header["cache-control"]), nil
		})
		keys.now = c.clock.Now // the refetch cooldown runs on the client's clock
		c.verifier = NewVerifier(VerifierConfig{
			Issuer:   m.Issuer,
			ClientID: c.s.ClientID,
			Leeway:   c.s.leeway,
			Now:      c.clock.Now,
			Keys:     keys,
		})
	})
	return c.verifier
}
