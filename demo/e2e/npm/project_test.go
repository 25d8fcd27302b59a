package npm_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// project is a fresh npm project outside the repository that installed the
// silentauth tarball and built one small app with Vite and with webpack 5,
// as an application developer would: no bundler configuration for
// silentauth, and no webpack configuration file at all.
type project struct {
	repo       string // the repository root, for its node_modules/.bin tools
	tarball    string
	dir        string // the application project
	pkgDir     string // dir/node_modules/silentauth: the unpacked tarball
	appDir     string // Vite's output
	webpackDir string // webpack's output, with the developer's index.html
}

var (
	setupOnce sync.Once
	setup     *project
	setupErr  error
	tempRoots []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range tempRoots {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// theProject installs and builds once per test binary; every test that needs
// it shares the result (npm install and vite build take seconds each).
func theProject(t *testing.T) *project {
	t.Helper()
	setupOnce.Do(func() { setup, setupErr = newProject(t) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return setup
}

func newProject(t *testing.T) (*project, error) {
	dist := e2eenv.DistDir(t)
	repoDir := filepath.Dir(dist)
	if _, err := os.Stat(filepath.Join(repoDir, "package.json")); err != nil {
		// SILENTAUTH_DIST elsewhere: the repository is above this package.
		repoDir = repo.MustRoot(t)
	}
	root, err := os.MkdirTemp("", "silentauth-npm-e2e-")
	if err != nil {
		return nil, err
	}
	tempRoots = append(tempRoots, root)
	tarball, err := findTarball(repoDir, dist, root)
	if err != nil {
		return nil, err
	}
	p := &project{repo: repoDir, tarball: tarball, dir: filepath.Join(root, "app")}
	p.pkgDir = filepath.Join(p.dir, "node_modules", "silentauth")
	p.appDir = filepath.Join(p.dir, "dist-app")
	p.webpackDir = filepath.Join(p.dir, "dist-webpack")
	files := map[string]string{
		"package.json": `{"name": "silentauth-vite-e2e", "private": true, "type": "module"}` + "\n",
		"index.html":   appIndexHTML,
		"main.js":      appMainJS,
	}
	if err := writeFiles(p.dir, files); err != nil {
		return nil, err
	}
	// The tarball has no dependencies, so this touches no registry.
	if out, err := run(p.dir, 3*time.Minute, "npm", "install", tarball, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"); err != nil {
		return nil, fmt.Errorf("npm install %s: %v\n%s", tarball, err, out)
	}
	// The repository's own Vite, run on the project: imports resolve from
	// the project's node_modules, where the tarball went.
	vite := filepath.Join(repoDir, "node_modules", ".bin", "vite")
	if out, err := run(p.dir, 3*time.Minute, vite, "build", p.dir, "--outDir", p.appDir, "--emptyOutDir", "--logLevel", "warn"); err != nil {
		return nil, fmt.Errorf("vite build: %v\n%s", err, out)
	}
	// The same project and main.js, bundled by webpack from the command
	// line: the defaults do the rest (asset modules for new URL(…,
	// import.meta.url), publicPath "auto").
	webpack := filepath.Join(repoDir, "node_modules", ".bin", "webpack")
	if out, err := run(p.dir, 3*time.Minute, webpack, "--mode", "production", "--entry", "./main.js", "--output-path", p.webpackDir); err != nil {
		return nil, fmt.Errorf("webpack: %v\n%s", err, out)
	}
	// webpack writes no HTML: the page is the developer's own, as static.
	if err := writeFiles(p.webpackDir, map[string]string{"index.html": webpackIndexHTML}); err != nil {
		return nil, err
	}
	return p, nil
}

// findTarball is make pack's dist/silentauth-<version>.tgz when it is newer
// than the files it holds; otherwise npm pack makes a fresh one in dir.
func findTarball(repo, dist, dir string) (string, error) {
	var pkg struct{ Name, Version string }
	b, err := os.ReadFile(filepath.Join(repo, "package.json"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", err
	}
	tgz := filepath.Join(dist, pkg.Name+"-"+pkg.Version+".tgz")
	if fresh(tgz, filepath.Join(repo, "package.json"), filepath.Join(dist, "silentauth.wasm"), filepath.Join(dist, "silentauth.js"),
		filepath.Join(dist, "silentauth.mjs"), filepath.Join(dist, "silentauth.d.ts"), filepath.Join(dist, "silentauth-global.d.ts")) {
		return tgz, nil
	}
	out, err := run(repo, 3*time.Minute, "npm", "pack", "--pack-destination", dir, "--loglevel=error")
	if err != nil {
		return "", fmt.Errorf("npm pack (run make build first): %v\n%s", err, out)
	}
	return filepath.Join(dir, pkg.Name+"-"+pkg.Version+".tgz"), nil
}

// fresh reports whether target exists and is not older than any of srcs.
func fresh(target string, srcs ...string) bool {
	ti, err := os.Stat(target)
	if err != nil {
		return false
	}
	for _, s := range srcs {
		si, err := os.Stat(s)
		if err != nil || si.ModTime().After(ti.ModTime()) {
			return false
		}
	}
	return true
}

func run(dir string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "CI=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFiles(dir string, files map[string]string) error {
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sha256File(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// builtEntry is the src of the module script Vite wrote into index.html.
func (p *project) builtEntry(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.appDir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	i := strings.Index(html, `type="module"`)
	if i < 0 {
		t.Fatalf("no module script in Vite's index.html:\n%s", html)
	}
	rest := html[i:]
	j := strings.Index(rest, `src="`)
	if j < 0 {
		t.Fatalf("no src on the module script:\n%s", html)
	}
	rest = rest[j+len(`src="`):]
	return rest[:strings.Index(rest, `"`)]
}

// The application a developer would write: it imports the package by name
// and makes one client when the page loads. /config.js (served by the test)
// says which tenant to use, and where the engine runs (absent: the default).
var appIndexHTML = indexHTML("Vite", `<script type="module" src="/main.js"></script>`)

// indexHTML is an application's page: /config.js, then the bundler's
// script tag, under a title naming the bundler.
func indexHTML(bundler, script string) string {
	return `<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>silentauth with ` + bundler + `</title>
<script src="/config.js"></script>
` + script + `
</head>
<body><p>silentauth with ` + bundler + `</p></body>
</html>
`
}

const appMainJS = `import { createClient, stats } from "silentauth";

const { domain, clientId, engine } = window.APP_CONFIG;
window.app = {
  client: createClient({ domain, clientId, engine, redirectUri: location.origin + "/", debug: true }),
  stats,
};
`

// The page a developer serves with webpack's bundle: webpack emits only
// scripts and assets; its default output is a classic script.
var webpackIndexHTML = indexHTML("webpack", `<script src="/main.js"></script>`)
