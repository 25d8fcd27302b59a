package npm_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// The Vite dev server, which a developer runs before any build: `vite` on
// the project, with no configuration for silentauth. Its dependency
// pre-bundling moves the package's module, and with it import.meta.url,
// under node_modules/.vite; the page must still find the worker script and
// the worker the wasm, so that the engine runs in the SharedWorker, and a
// login and a token work as in the built app.
func TestViteDevServerRunsTheEngineInTheSharedWorker(t *testing.T) {
	p := theProject(t)
	appURL := startViteDevServer(t, p)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}, Clients: devtenant.DefaultClients([]string{appURL})})
	if err != nil {
		t.Fatal(err)
	}
	e2eenv.Serve(t, tl, tenant)
	// The dev server serves public/ at the root: the app's configuration.
	if err := writeFiles(filepath.Join(p.dir, "public"), map[string]string{
		"config.js": fmt.Sprintf("window.APP_CONFIG = {domain: %q, clientId: \"spa\", engine: \"shared-worker\"};\n", tenantURL),
	}); err != nil {
		t.Fatal(err)
	}
	s := &server{tenantURL: tenantURL, appURL: appURL, browser: chrome.Start(t)}
	tab := s.browser.NewTab(t)
	openPage(t, tab, appURL+"/", "window.app")

	var before map[string]any
	tab.MustEval(`app.client.then(c => c.checkSession()).then(() => ({}), e => ({error: e.error, description: e.error_description}))`, &before)
	if before["error"] != "login_required" {
		t.Fatalf("checkSession before login under the dev server: %v\nconsole:\n%s", before, strings.Join(tab.Console(), "\n"))
	}
	s.login(t, tab, `app.client.then(c => c.loginWithRedirect())`, appURL+"/", "window.app")
	var res map[string]any
	tab.MustEval(`(async () => {
		const c = await app.client;
		const login = await c.handleRedirectCallback();
		const token = await c.getTokenSilently();
		return {login: login.idTokenPayload.email, token: typeof token, pageRuntime: globalThis[Symbol.for("silentauth.runtime")] !== undefined};
	})()`, &res)
	if res["login"] != "demo@example.com" || res["token"] != "string" || res["pageRuntime"] != false {
		t.Fatalf("under the dev server: %v\nconsole:\n%s", res, strings.Join(tab.Console(), "\n"))
	}
	workers := tab.SharedWorkers(t)
	if len(workers) != 1 || !strings.HasPrefix(workers[0].URL, appURL+"/") {
		t.Fatalf("shared_worker targets %v, want one from the dev server %s", workers, appURL)
	}
	t.Logf("the dev server's worker: %s", workers[0].URL)
}

// startViteDevServer runs the repository's Vite as `vite` on the project,
// on a free port of localhost, until the test ends; it returns the app's
// origin once the dev server answers.
func startViteDevServer(t *testing.T, p *project) string {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	appURL := fmt.Sprintf("http://localhost:%d", port)
	vite := filepath.Join(p.repo, "node_modules", ".bin", "vite")
	cmd := exec.Command(vite, p.dir, "--port", fmt.Sprint(port), "--strictPort", "--host", "localhost", "--clearScreen", "false")
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "CI=1")
	// Its own process group, so that the cleanup ends Vite and its helpers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Vite's output goes to the test's log, line by line: it shows on a
	// failure or with -v.
	out := nodeop.LogWriter(t)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, appURL+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return appURL
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Vite dev server did not answer on %s within 60 s (its output is in the log above)", appURL)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
