package e2eenv

import (
	"fmt"
	"testing"

	"github.com/silentauth/silentauth/demo/internal/chrome"
)

// Outcome is how a call that resolves to an AuthResult settled, as the
// page saw it, and how long it took there.
type Outcome struct {
	OK          bool           `json:"ok"`
	MS          float64        `json:"ms"`
	Error       string         `json:"error"`
	Description string         `json:"desc"`
	IDToken     string         `json:"idToken"`
	AccessToken string         `json:"accessToken"`
	Payload     map[string]any `json:"payload"`
	ExpiresIn   float64        `json:"expiresIn"`
	TokenType   string         `json:"tokenType"`
}

func (o Outcome) String() string {
	if o.OK {
		return fmt.Sprintf("ok in %.0f ms", o.MS)
	}
	return fmt.Sprintf("%s after %.0f ms: %s", o.Error, o.MS, o.Description)
}

// Settle runs setup (statements, may be empty), then awaits the promise
// expr in the page and reports how it settled.
func Settle(t testing.TB, tab *chrome.Tab, setup, expr string) Outcome {
	t.Helper()
	var o Outcome
	tab.MustEvalT(t, `(async () => {
		`+setup+`
		const t0 = performance.now();
		try {
			const r = await (`+expr+`);
			return {ok: true, ms: performance.now() - t0, idToken: r.idToken, accessToken: r.accessToken,
				payload: r.idTokenPayload, expiresIn: r.expiresIn, tokenType: r.tokenType};
		} catch (e) {
			return {ok: false, ms: performance.now() - t0, error: e.error, desc: e.error_description};
		}
	})()`, &o)
	return o
}
