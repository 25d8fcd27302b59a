package frontdoor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// The README's example sits between these markers, in an html code block.
const (
	exampleStart = "<!-- readme-example:start"
	exampleEnd   = "<!-- readme-example:end -->"
	// The only text the test changes: the tenant and client the example names.
	exampleDomain   = `"https://login.example.com"`
	exampleClientID = `"YOUR_CLIENT_ID"`
)

// readmeExample is the README's first example, as a reader copies it.
func readmeExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo.MustRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, exampleStart), strings.Index(s, exampleEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q block", exampleStart, exampleEnd)
	}
	block := s[i:j]
	open := strings.Index(block, "```html\n")
	end := strings.LastIndex(block, "```")
	if open < 0 || end <= open {
		t.Fatalf("the README's example is not an html code block:\n%s", block)
	}
	code := block[open+len("```html\n") : end]
	for _, want := range []string{exampleDomain, exampleClientID} {
		if strings.Count(code, want) != 1 {
			t.Fatalf("the README's example should name %s once:\n%s", want, code)
		}
	}
	return code
}

// TestReadmeExample runs the README's example page against the dev tenant:
// a visitor who never signed in sees "Signed out" and a Log in button at
// once, without a request to the tenant or the runtime's download, and is
// not sent anywhere; the button logs in; the callback is handled and leaves
// no code in the address bar; a reload is signed in silently. Where the
// tenant is on another site (what blocked third-party cookies look like),
// each reload after the login is signed out, with no redirect loop and with
// the description pointing at third-party cookies.
func TestReadmeExample(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tenantHost string
		// reloadSignedIn: the silent check after the login finds the session.
		reloadSignedIn bool
	}{
		{name: "tenant on the app's site", tenantHost: "localhost", reloadSignedIn: true},
		{name: "third-party cookies blocked (tenant on another site)", tenantHost: "127.0.0.1", reloadSignedIn: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, tc.tenantHost, 0)
			code := readmeExample(t)
			code = strings.Replace(code, exampleDomain, fmt.Sprintf("%q", e.TenantURL), 1)
			code = strings.Replace(code, exampleClientID, `"spa"`, 1)
			e.pages.Serve("/", "", code)

			tab := e.Browser.NewTab(t)
			if err := tab.Navigate(e.AppURL + "/"); err != nil {
				t.Fatal(err)
			}
			waitStatus(t, tab, "Signed out")
			assertButtons(t, tab, true)
			if n := e.interactiveLogins(); n != 0 {
				t.Fatalf("signed out, the page went to the login page %d times by itself\n%s", n, e2eenv.PageText(tab))
			}
			if status := statusText(t, tab); !strings.Contains(status, "login_required") || !strings.Contains(status, "No sign-in is recorded in this browser") {
				t.Errorf("a first visit should read as signed out because nobody signed in here, got %q", status)
			}
			if _, tenant, wasm := e.counts(); tenant != 0 || wasm != 0 {
				t.Errorf("a first visit asked the tenant %d times and downloaded the runtime %d times, want neither", tenant, wasm)
			}

			tab.MustEval(`document.getElementById("login").click(), true`, nil)
			logIn(t, e.AppURL, tab)
			waitStatus(t, tab, "Signed in as demo@example.com")
			assertButtons(t, tab, false)
			assertCleanURL(t, e, tab)
			if n := e.interactiveLogins(); n != 1 {
				t.Fatalf("one click should be one trip to the login page, got %d", n)
			}

			for reload := 1; reload <= 2; reload++ {
				if err := tab.Navigate(e.AppURL + "/"); err != nil {
					t.Fatal(err)
				}
				if tc.reloadSignedIn {
					waitStatus(t, tab, "Signed in as demo@example.com")
				} else {
					waitStatus(t, tab, "Signed out")
					assertButtons(t, tab, true)
					if status := statusText(t, tab); !strings.Contains(status, "third-party cookies") || !strings.Contains(status, "signed in here") {
						t.Errorf("reload %d: the signed-out state should point at blocked third-party cookies, got %q", reload, status)
					}
				}
				assertCleanURL(t, e, tab)
				if n := e.interactiveLogins(); n != 1 {
					t.Fatalf("after reload %d the page went to the login page by itself (%d trips in all)\n%s", reload, n, e2eenv.PageText(tab))
				}
			}
		})
	}
}

func statusText(t *testing.T, tab *chrome.Tab) string {
	t.Helper()
	var s string
	tab.MustEval(`document.getElementById("status").textContent`, &s)
	return s
}

// waitStatus waits until #status starts with want.
func waitStatus(t *testing.T, tab *chrome.Tab, want string) {
	t.Helper()
	cond := fmt.Sprintf(`document.getElementById("status") && document.getElementById("status").textContent.startsWith(%q)`, want)
	waitFor(t, tab, cond, 20*time.Second)
}

func assertButtons(t *testing.T, tab *chrome.Tab, signedOut bool) {
	t.Helper()
	var hidden map[string]bool
	tab.MustEval(`({login: document.getElementById("login").hidden, logout: document.getElementById("logout").hidden})`, &hidden)
	if hidden["login"] == signedOut || hidden["logout"] != signedOut {
		t.Errorf("signed out %v: Log in hidden %v, Log out hidden %v", signedOut, hidden["login"], hidden["logout"])
	}
}

func assertCleanURL(t *testing.T, e *env, tab *chrome.Tab) {
	t.Helper()
	var href string
	tab.MustEval(`location.href`, &href)
	if href != e.AppURL+"/" {
		t.Errorf("the address bar reads %s, want %s/ (no code, no state)", href, e.AppURL)
	}
}

// logIn answers the tenant's login form and waits to be back on the app.
func logIn(t *testing.T, appURL string, tab *chrome.Tab) {
	t.Helper()
	if err := e2eenv.SubmitLoginForm(tab, "demo@example.com", 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, e2eenv.PageText(tab))
	}
	waitFor(t, tab, fmt.Sprintf(`location.origin === %q`, appURL), 10*time.Second)
}

// logInToSDK is logIn, then waits for the SDK on the page it came back to.
func logInToSDK(t *testing.T, appURL string, tab *chrome.Tab) {
	t.Helper()
	logIn(t, appURL, tab)
	waitFor(t, tab, "window.silentauth && silentauth.createClient", 10*time.Second)
}
