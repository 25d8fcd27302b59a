// Package goapp_test proves the Go API for Go WebAssembly applications:
// demo/goapp, which uses checksession and jsbridge with no JS SDK, is
// built with GOOS=js, served on an origin the dev tenant knows, logged in,
// and seen renewing its tokens silently.
package goapp_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

func TestGoAppLogsInAndRenewsSilently(t *testing.T) {
	wasm := buildGoApp(t)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{
		Issuer: tenantURL,
		// Short-lived tokens, so that a renewal comes within the test:
		// silentauth renews halfway through a token this short.
		TokenLifetime: 10 * time.Second,
		AppOrigins:    []string{appURL},
		Clients:       devtenant.DefaultClients([]string{appURL}),
	})
	if err != nil {
		t.Fatal(err)
	}
	e2eenv.Serve(t, tl, tenant)
	e2eenv.Serve(t, al, appHandler(t, wasm, tenantURL))
	tab := chrome.Start(t).NewTab(t)

	if err := tab.Navigate(appURL + "/"); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, tab, "no session (login_required", 60*time.Second)

	tab.MustEval(`document.getElementById("login").click(), true`, nil)
	if err := e2eenv.SubmitLoginForm(tab, "demo@example.com", 30*time.Second); err != nil {
		t.Fatalf("%v\nlog:\n%s", err, pageLog(tab))
	}

	// Back on the app, the Go program finishes the login itself
	// (HandleRedirectCallback) and auto-renew takes over.
	waitForLog(t, tab, "logged in as demo@example.com", 60*time.Second)
	var href string
	tab.MustEval(`location.href`, &href)
	if href != appURL+"/" {
		t.Errorf("the response stayed in the address bar: %s", href)
	}
	waitForLog(t, tab, "renewed: token for demo@example.com", 90*time.Second)
	log := pageLog(tab)
	if strings.Contains(log, "error:") || strings.Contains(log, "renew_error") || strings.Contains(log, "session_ended") {
		t.Fatalf("the log has failures:\n%s", log)
	}
	t.Logf("page log:\n%s", log)
}

// buildGoApp compiles demo/goapp for the browser.
func buildGoApp(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "goapp.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/silentauth/silentauth/demo/goapp")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build ./demo/goapp: %v\n%s", err, b)
	}
	return out
}

// appHandler serves the Go app: its page, Go's own wasm_exec.js, the wasm
// and /config.js, under the README's Content-Security-Policy.
func appHandler(t *testing.T, wasm, tenantURL string) http.Handler {
	_, self, _, _ := runtime.Caller(0)
	appDir := filepath.Join(filepath.Dir(self), "..", "..", "goapp")
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"/":             filepath.Join(appDir, "index.html"),
		"/start.js":     filepath.Join(appDir, "start.js"),
		"/wasm_exec.js": filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"),
		"/goapp.wasm":   wasm,
	}
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm"}
	config := fmt.Sprintf("window.GOAPP_CONFIG = {domain: %q, clientId: \"spa\"};\n", tenantURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", demoserver.CSP(tenantURL))
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/config.js" {
			w.Header().Set("Content-Type", types[".js"])
			_, _ = w.Write([]byte(config))
			return
		}
		path, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", types[filepath.Ext(path)])
		http.ServeFile(w, r, path)
	})
}

func pageLog(tab *chrome.Tab) string {
	var s string
	_ = tab.Eval(`document.getElementById("log") ? document.getElementById("log").textContent : ""`, &s)
	return s
}

func waitForLog(t *testing.T, tab *chrome.Tab, want string, timeout time.Duration) {
	t.Helper()
	cond := fmt.Sprintf(`document.getElementById("log") && document.getElementById("log").textContent.includes(%q)`, want)
	if err := tab.WaitFor(cond, timeout); err != nil {
		t.Fatalf("%v\nlog:\n%s\nconsole:\n%s", err, pageLog(tab), strings.Join(tab.Console(), "\n"))
	}
}
