// Package testingdoc_test runs the two examples of docs/testing.md, the
// Playwright script and the Go (chromedp) test, extracted by their markers
// and run verbatim, against a small sample app (the page the document
// describes) and the dev tenant on free ports. Each example asserts for
// itself (a signed-in user without the login form, then an error path) and
// fails its process when it does not see it.
package testingdoc_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// example is the code block between docs/testing.md's markers for name.
func example(t *testing.T, root, name, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "testing.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start, end := "<!-- testing-example:"+name+":start", "<!-- testing-example:"+name+":end -->"
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("docs/testing.md has no %q … %q block", start, end)
	}
	block := s[i:j]
	open := strings.Index(block, "```"+lang+"\n")
	close := strings.LastIndex(block, "```")
	if open < 0 || close <= open {
		t.Fatalf("the %s example is not a %s code block:\n%s", name, lang, block)
	}
	return block[open+len("```"+lang+"\n") : close]
}

// samplePage is the app docs/testing.md describes: #user shows the
// signed-in user's email, #status the error code.
const samplePage = `<!doctype html><html><head><meta charset="utf-8"><title>sample app</title>
<script src="/silentauth/silentauth.js"></script></head>
<body><p id="status"></p><p id="user"></p>
<script type="module">
const TENANT_URL = %q;
const client = await silentauth.createClient({ domain: TENANT_URL, clientId: "spa" });
try {
  await client.getTokenSilently();
  document.querySelector("#user").textContent = client.getUser().email;
} catch (e) {
  document.querySelector("#status").textContent = e.error;
}
</script></body></html>`

// fixture starts the dev tenant and the sample app on free ports and
// returns the environment the examples read.
func fixture(t *testing.T) (seen *requests, env []string) {
	t.Helper()
	dist := e2eenv.DistDir(t)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}, TokenLifetime: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/silentauth/", http.StripPrefix("/silentauth/", http.FileServer(http.Dir(dist))))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, samplePage, tenantURL)
	})
	seen = &requests{}
	e2eenv.Serve(t, tl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Count(r)
		tenant.ServeHTTP(w, r)
	}))
	e2eenv.Serve(t, al, mux)
	// The examples' browsers keep their profiles and singleton directories
	// under TMPDIR (and go test its build): a scratch directory that goes
	// with the test, not the machine's /tmp.
	scratch, err := os.MkdirTemp("", "silentauth-testingdoc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scratch) })
	return seen, append(os.Environ(), "TENANT_URL="+tenantURL, "APP_URL="+appURL+"/", "CHROMIUM="+e2eenv.ExecPath(), "TMPDIR="+scratch)
}

// run runs cmd, failing t with its output when it fails.
func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out)
}

func TestPlaywrightExampleRunsVerbatim(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is not installed (npm ci): %v", err)
	}
	code := example(t, root, "playwright", "js")
	seen, env := fixture(t)
	// Inside the repository, so that node finds playwright-core in its node_modules.
	dir, err := os.MkdirTemp(root, ".testingdoc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "example.mjs")
	if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", file)
	cmd.Env = env
	out := run(t, cmd)
	if !strings.Contains(out, "playwright example: ok") {
		t.Fatalf("the example ended without reaching its end:\n%s", out)
	}
	seen.check(t)
}

func TestChromedpExampleRunsVerbatim(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	code := example(t, root, "chromedp", "go")
	seen, env := fixture(t)
	// A package directory of its own inside this module, which requires chromedp.
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(here, "example")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "example_test.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "test", "-count=1", "-v", ".")
	cmd.Dir = dir
	cmd.Env = env
	out := run(t, cmd)
	if !strings.Contains(out, "--- PASS: TestSignedInThenSilentServer") {
		t.Fatalf("the example's test did not pass:\n%s", out)
	}
	seen.check(t)
}

// requests counts the tenant's requests by path.
type requests struct{ e2eenv.PathCounts }

// check makes sure the example drove this fixture: it signed a user in
// through /dev/login, its app asked /authorize at least twice (signed in,
// then the error path), and it reset the tenant at its end.
func (r *requests) check(t *testing.T) {
	t.Helper()
	if n := r.All(); n["/dev/login"] != 1 || n["/authorize"] < 2 || n["/dev/reset"] != 1 {
		t.Errorf("the tenant saw %v; want one /dev/login, two or more /authorize, one /dev/reset", n)
	}
}
