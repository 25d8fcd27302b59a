package devtenant_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// forgePage is a page on an origin that is neither the app's nor the
// tenant's. Framed by the app, it posts a forged authorization response
// with the real state (from its fragment) to its parent, to any origin, a
// few times so that one lands while the SDK listens.
const forgePage = `<!doctype html><meta charset="utf-8"><title>forger</title><script>
const state = new URLSearchParams(location.hash.slice(1)).get("state");
const forged = {type: "authorization_response", response: {state, code: "forged", access_token: "forged",
	id_token: "forged", token_type: "Bearer", expires_in: 3600, scope: "openid profile email"}};
let n = 0;
const post = () => { parent.postMessage(forged, "*"); if (++n < 10) setTimeout(post, 100); };
post();
</script>`

// TestWebMessages pins API.md's acceptance rules in a browser. First, a
// page on an origin the tenant does not know gets no message and fails fast.
// Then, while a silent request waits for its answer (the tenant holds it
// back 2 s), messages carrying its real state arrive from another origin,
// from the page itself and from another tenant-origin frame; the request
// still resolves with the tenant's real tokens.
func TestWebMessages(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	fl, forgeURL := e2eenv.Listen(t, "127.0.0.1")
	e2eenv.Serve(t, fl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, forgePage)
	}))

	t.Run("an origin not among the tenant's web origins fails fast with timeout", func(t *testing.T) {
		app, err := demoserver.New(demoserver.Config{Domain: env.TenantURL, ClientID: "spa", DistDir: e2eenv.DistDir(t)})
		if err != nil {
			t.Fatal(err)
		}
		l, otherURL := e2eenv.Listen(t, "localhost")
		e2eenv.Serve(t, l, e2eenv.WithTestPage(app, env.TenantURL))
		tab := env.Browser.NewTab(t)
		if err := tab.Navigate(otherURL + e2eenv.TestPagePath); err != nil {
			t.Fatal(err)
		}
		if err := tab.WaitFor("window.silentauth", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		// The default timeoutInSeconds (60) is kept on purpose: the SDK
		// must not need it, since the tenant's page loads and posts nothing.
		tab.MustEvalT(t, fmt.Sprintf(`(async () => { window.client = await silentauth.createClient({domain: %q, clientId: "spa", debug: true, assumeSignedOut: false}); return true })()`, env.TenantURL), nil)
		o := settle(t, tab, `client.checkSession()`)
		mustFail(t, o, "timeout")
		t.Logf("unregistered origin: timeout after %.0f ms: %s", o.ElapsedMS, o.Desc)
		if !strings.HasPrefix(o.Desc, "Timeout during executing web_message communication") {
			t.Errorf("error_description %q does not start with auth0.js's words", o.Desc)
		}
		if !strings.Contains(o.Desc, otherURL) {
			t.Errorf("error_description %q does not name the page's origin %s", o.Desc, otherURL)
		}
		// The page loads, then the SDK allows one second's grace for its
		// message: the failure lands within a couple of seconds, far under
		// the 60 s timeout, and never before the grace.
		if o.ElapsedMS < 1000 || o.ElapsedMS > 5000 {
			t.Errorf("failed after %.0f ms, want the page's load plus the 1 s grace, far under the 60 s timeout", o.ElapsedMS)
		}
		if !tab.ConsoleHas(0, "failing fast") {
			t.Errorf("no \"failing fast\" debug line")
		}
		waitNoFrames(t, tab)
	})

	tab := env.Browser.NewTab(t)
	// The test page's CSP allows frames from the tenant only. An app that
	// embeds a third-party widget allows more; this tab stands for it.
	if err := chromedp.Run(tab.Ctx, page.SetBypassCSP(true)); err != nil {
		t.Fatal(err)
	}
	if err := tab.Navigate(env.AppURL + e2eenv.TestPagePath); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor("window.silentauth", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	login(t, env, tab, "demo@example.com", loginOptions{})

	mark := 0 // console lines before the current request
	// inFlight starts checkSession with the tenant holding /authorize back,
	// and returns the state of the request the SDK's iframe carries.
	inFlight := func(t *testing.T, responseType string) (state, authorizeURL string) {
		t.Helper()
		mark = len(tab.Console())
		// Long enough for a decoy page to load and post first, even on a
		// loaded machine: the answer to our request must come last.
		env.Tenant.SetFaults(devtenant.Faults{Delay: 10 * time.Second})
		t.Cleanup(func() { env.Tenant.SetFaults(devtenant.Faults{}) })
		held := env.Tenant.Stats().AuthorizePromptNone
		tab.MustEvalT(t, `(() => {
			window.pending = client.checkSession({responseType: "`+responseType+`"}).then(r => ({ok: true, result: r}), e => ({ok: false, error: e.error, description: e.error_description}));
			return true;
		})()`, nil)
		if err := tab.WaitFor(`document.querySelector('`+frameSelector+`')`, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		tab.MustEvalT(t, `document.querySelector('`+frameSelector+`').src`, &authorizeURL)
		u, err := url.Parse(authorizeURL)
		if err != nil {
			t.Fatal(err)
		}
		state = u.Query().Get("state")
		if state == "" {
			t.Fatalf("no state in the iframe's src %q", authorizeURL)
		}
		// The iframe exists before its request reaches the tenant; only a
		// request that arrived is held (a test may lift the delay next).
		for end := time.Now().Add(5 * time.Second); env.Tenant.Stats().AuthorizePromptNone == held; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("the silent request did not reach the tenant within 5 s")
			}
		}
		return state, authorizeURL
	}
	// resolved awaits window.pending and checks it brought the tenant's tokens.
	resolved := func(t *testing.T) {
		t.Helper()
		var res struct {
			OK          bool           `json:"ok"`
			Result      map[string]any `json:"result"`
			Error       string         `json:"error"`
			Description string         `json:"description"`
		}
		tab.MustEvalT(t, `window.pending`, &res)
		if !res.OK {
			t.Fatalf("checkSession failed: %s: %s\nconsole:\n%s", res.Error, res.Description, strings.Join(tab.Console(), "\n"))
		}
		at, _ := res.Result["accessToken"].(string)
		id, _ := res.Result["idToken"].(string)
		if at == "forged" || id == "forged" || strings.Count(at, ".") != 2 || strings.Count(id, ".") != 2 {
			t.Fatalf("checkSession resolved with accessToken %q idToken %q, not the tenant's", at, id)
		}
	}

	for _, rt := range []string{"code", "id_token token"} {
		t.Run("a forged response from another origin's frame is ignored ("+rt+")", func(t *testing.T) {
			state, _ := inFlight(t, rt)
			tab.MustEvalT(t, fmt.Sprintf(`(() => {
				const f = document.createElement("iframe");
				f.className = "forger";
				f.src = %q + "/forge.html#state=" + encodeURIComponent(%q);
				document.body.append(f);
				return true;
			})()`, forgeURL, state), nil)
			tab.WaitConsole(t, mark, 5*time.Second, "ignored a message: origin", forgeURL, "is not the authorization server's")
			resolved(t)
			tab.MustEvalT(t, `(() => { document.querySelectorAll("iframe.forger").forEach(f => f.remove()); return true })()`, nil)
		})
	}

	t.Run("a response posted by the page itself is ignored", func(t *testing.T) {
		state, _ := inFlight(t, "id_token token")
		tab.MustEvalT(t, fmt.Sprintf(`(() => {
			window.postMessage({type: "authorization_response", response: {state: %q, access_token: "forged", id_token: "forged", token_type: "Bearer", expires_in: 3600}}, "*");
			return true;
		})()`, state), nil)
		tab.WaitConsole(t, mark, 5*time.Second, "ignored a message: origin", env.AppURL, "is not the authorization server's")
		resolved(t)
	})

	t.Run("a tenant-origin response from a frame other than the request's is ignored", func(t *testing.T) {
		// The decoy is a real tenant answer with the real state, from a
		// frame the SDK did not open: max_age=0 makes it login_required, so
		// taking it would reject the call.
		state, authorizeURL := inFlight(t, "id_token token")
		u, _ := url.Parse(authorizeURL)
		q := u.Query()
		q.Set("max_age", "0")
		q.Set("state", state)
		u.RawQuery = q.Encode()
		env.Tenant.SetFaults(devtenant.Faults{}) // the decoy is answered at once; the SDK's request still waits
		tab.MustEvalT(t, fmt.Sprintf(`(() => {
			const f = document.createElement("iframe");
			f.className = "decoy";
			f.src = %q;
			document.body.append(f);
			return true;
		})()`, u.String()), nil)
		tab.WaitConsole(t, mark, 9*time.Second, "ignored a message: source is not this request's iframe")
		resolved(t)
		tab.MustEvalT(t, `(() => { document.querySelectorAll("iframe.decoy").forEach(f => f.remove()); return true })()`, nil)
	})
}
