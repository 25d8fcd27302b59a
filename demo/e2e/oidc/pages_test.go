package oidc_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// promptNonePage fetches the web_message page that a prompt=none code
// request with no session gets (login_required): it needs no session, and
// it is the same envelope a success is delivered in.
func promptNonePage(t *testing.T, authorizeEndpoint, redirectURI string) (int, string) {
	t.Helper()
	q := url.Values{
		"client_id":             {"spa"},
		"response_type":         {"code"},
		"response_mode":         {"web_message"},
		"prompt":                {"none"},
		"redirect_uri":          {redirectURI},
		"scope":                 {"openid profile email"},
		"state":                 {"state-0123456789"},
		"nonce":                 {"nonce-0123456789"},
		"code_challenge":        {devtenant.S256("a-code-verifier-that-is-long-enough-for-pkce-rules")},
		"code_challenge_method": {"S256"},
	}
	resp, err := http.Get(authorizeEndpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func mustContain(t *testing.T, what, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("%s lacks %q; body:\n%s", what, p, body)
		}
	}
}

// Both envelopes the SDK meets in the wild deliver to it: Auth0's (bare
// origin as targetOrigin, an idle relay branch, no window.close, 200 even
// for errors, no iss) as the dev tenant serves it, and node-oidc-provider's
// (the full redirect_uri as targetOrigin, window.close, 400 for errors, iss).
func TestBothWebMessagePagesDeliverToTheSDK(t *testing.T) {
	t.Run("dev tenant, Auth0's page", func(t *testing.T) {
		env := shared.tenant
		redirect := env.AppURL + e2eenv.TestPagePath
		status, body := promptNonePage(t, env.TenantURL+"/authorize", redirect)
		if status != http.StatusOK {
			t.Errorf("status %d, want 200 (Auth0 answers errors through web_message with 200)", status)
		}
		mustContain(t, "Auth0's page", body,
			`var targetOrigin = "`+env.AppURL+`";`, // the bare origin, not redirect
			`var webMessageRequest = {};`,
			`if (relayUri && relayTarget) {`,
			`mainWin.postMessage(authorizationResponse, targetOrigin);`,
			`"error":"login_required"`)
		if strings.Contains(body, `"`+redirect+`"`) || strings.Contains(body, `"iss"`) {
			t.Errorf("Auth0's page names the full redirect_uri or an iss:\n%s", body)
		}
		// The only window.close is inside the relay branch.
		if strings.Count(body, "win.close()") != 1 || strings.Index(body, "win.close()") > strings.Index(body, "} else {") {
			t.Errorf("window.close outside the relay branch:\n%s", body)
		}

		tab := openTestPage(t, e2eenv.TestPagePath)
		env.Login(t, tab, "demo@example.com", "")
		if o := checkSession(t, tab, ""); !o.OK {
			t.Fatalf("checkSession through Auth0's page: %v", o)
		} else {
			t.Logf("checkSession through Auth0's page: %v", o)
		}
	})

	t.Run("node-oidc-provider's page", func(t *testing.T) {
		redirect := shared.appURL + callbackPath
		status, body := promptNonePage(t, shared.issuer+"/auth", redirect)
		if status != http.StatusBadRequest {
			t.Errorf("status %d, want 400 (node-oidc-provider sends errors with 400)", status)
		}
		mustContain(t, "node-oidc-provider's page", body,
			`"redirect_uri":"`+redirect+`"`, // the full URI is the targetOrigin
			`var redirect_uri = data.redirect_uri;`,
			`respond(mainWin, redirect_uri);`,
			`target.postMessage(authorization_response, origin);`,
			`win.close();`,
			`"error":"login_required"`,
			`"iss":"`+shared.issuer+`"`)

		tab := openTestPage(t, callbackPath)
		opLogin(t, tab, shared.issuer, "erin", "")
		if o := checkSession(t, tab, ""); !o.OK {
			t.Fatalf("checkSession through node-oidc-provider's page: %v", o)
		} else {
			t.Logf("checkSession through node-oidc-provider's page: %v", o)
		}
	})
}
