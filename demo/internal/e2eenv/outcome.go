package e2eenv

import (
	"encoding/json"
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

// Settled is how any SDK promise settled, as the page saw it: its result,
// or the rejection's fields.
type Settled struct {
	OK     bool           `json:"ok"`
	Result map[string]any `json:"result"`
	// IsError: the rejection is an Error; IsSDK: a SilentAuthError, as
	// silentauth.isSilentAuthError and instanceof both say.
	IsError bool   `json:"isError"`
	IsSDK   bool   `json:"isSDK"`
	Name    string `json:"name"`
	Error   string `json:"error"`
	Desc    string `json:"description"`
	State   string `json:"state"`
	// CauseCode is the error code of the rejection's cause, if any.
	CauseCode string `json:"causeCode"`
	// ErrHasTokens is true when the rejection carries token fields.
	ErrHasTokens bool    `json:"errHasTokens"`
	ElapsedMS    float64 `json:"elapsed"`
	// Before and After bracket the call on the page's Date.now().
	Before float64 `json:"before"`
	After  float64 `json:"after"`
}

func (o Settled) String() string {
	b, _ := json.Marshal(o)
	return string(b)
}

// SettleCall awaits the JS promise expr in the page (window.client and
// any globals are in scope) and reports how it settled. It fails t with
// the page's text when the page cannot be evaluated.
func SettleCall(t testing.TB, tab *chrome.Tab, expr string) Settled {
	t.Helper()
	var o Settled
	if err := tab.Eval(`(async () => {
		const before = Date.now(), t0 = performance.now();
		try {
			const result = await (`+expr+`);
			return {ok: true, result, elapsed: performance.now() - t0, before, after: Date.now()};
		} catch (e) {
			return {ok: false, isError: e instanceof Error,
				isSDK: silentauth.isSilentAuthError(e) && e instanceof silentauth.SilentAuthError,
				name: e && e.name, error: e && e.error, description: e && e.error_description, state: e && e.state,
				causeCode: e && e.cause && e.cause.error || "",
				errHasTokens: !!e && ("accessToken" in e || "idToken" in e || "access_token" in e),
				elapsed: performance.now() - t0, before, after: Date.now()};
		}
	})()`, &o); err != nil {
		t.Fatalf("%v\n%s", err, PageText(tab))
	}
	return o
}
