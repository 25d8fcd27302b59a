package devtenant_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestRedirectCallback pins handleRedirectCallback: it validates an
// interactive login's response as strictly as checkSession does, accepts it
// once, and cleans the address bar.
func TestRedirectCallback(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	// responseIn is where each response type puts its response.
	responseIn := map[string]string{"code": "search", "id_token token": "hash"}
	for _, rt := range []string{"code", "id_token token"} {
		extra := fmt.Sprintf("responseType: %q", rt)
		newClient := `(async () => { window.client = await ` + env.ClientJSFor("spa", extra) + `; return true })()`

		t.Run(rt+": a wrong state is invalid_state, the right one succeeds once and cleans the address bar, a replay is invalid_state", func(t *testing.T) {
			loginToCallback(t, env, tab, "demo@example.com", loginOptions{extra: extra})
			var callback string
			tab.MustEvalT(t, `location.href`, &callback)
			var where string
			tab.MustEvalT(t, `location.`+responseIn[rt], &where)
			if !strings.Contains(where, "state=") {
				t.Fatalf("the response is not in location.%s: %s", responseIn[rt], callback)
			}
			tab.MustEvalT(t, newClient, nil)

			o := settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, withState(t, callback, "not-the-state")))
			mustFail(t, o, "invalid_state")
			if !strings.Contains(o.Desc, "unknown or was already used") {
				t.Errorf("error_description %q", o.Desc)
			}

			r := mustSucceed(t, tab, settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, callback)))
			if p, _ := r["idTokenPayload"].(map[string]any); p["email"] != "demo@example.com" || r["accessToken"] == nil {
				t.Errorf("callback result %v", r)
			}
			var loc map[string]string
			tab.MustEvalT(t, `({search: location.search, hash: location.hash, path: location.pathname})`, &loc)
			if loc["search"] != "" || loc["hash"] != "" || loc["path"] != e2eenv.TestPagePath {
				t.Errorf("the address bar still carries the response: %v", loc)
			}

			o = settle(t, tab, fmt.Sprintf(`client.handleRedirectCallback(%q)`, callback))
			mustFail(t, o, "invalid_state")
		})

		t.Run(rt+": an ID token with the wrong nonce is invalid_token naming nonce", func(t *testing.T) {
			env.Tenant.SetFaults(devtenant.Faults{WrongNonce: true})
			defer env.Tenant.SetFaults(devtenant.Faults{})
			loginToCallback(t, env, tab, "demo@example.com", loginOptions{extra: extra})
			tab.MustEvalT(t, newClient, nil)
			o := settle(t, tab, `client.handleRedirectCallback()`)
			mustFail(t, o, "invalid_token")
			if !strings.HasPrefix(o.Desc, "nonce: ") {
				t.Errorf("error_description %q does not name the nonce check", o.Desc)
			}
			if o.ErrHasTokens {
				t.Errorf("the rejection carries tokens: %v", o)
			}
			var user any
			tab.MustEvalT(t, `client.getUser()`, &user)
			if user != nil {
				t.Errorf("getUser() = %v after a rejected login", user)
			}
		})
	}
}

// withState returns the callback URL with its state (in the query or the
// fragment, wherever it is) replaced.
func withState(t *testing.T, callback, state string) string {
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := url.ParseQuery(u.Fragment); err == nil && f.Has("state") {
		f.Set("state", state)
		base, _, _ := strings.Cut(callback, "#")
		return base + "#" + f.Encode()
	}
	q := u.Query()
	q.Set("state", state)
	u.RawQuery = q.Encode()
	return u.String()
}
