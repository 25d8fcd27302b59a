// Package demoserver serves the silentauth demo application: the page from
// package web, the built SDK from a dist directory, and /config.js telling
// the page which authorization server to use. Every answer carries the
// Content-Security-Policy that the README recommends, so the demo proves it.
package demoserver

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/demo/web"
)

// Config describes what the demo page talks to.
type Config struct {
	// Domain is the authorization server's base URL, e.g. "http://localhost:3000".
	Domain string
	// ClientID is the application's client id at that server.
	ClientID string
	// Audience, when set, is passed to createClient.
	Audience string
	// DistDir holds silentauth.js, silentauth.mjs and silentauth.wasm (default "dist").
	DistDir string
	// APIURL is a protected API for the "Call the API" button; empty disables it.
	APIURL string
	// ServerLogoutURL ends the session at the server without leaving the page;
	// empty disables "Log out at the server only".
	ServerLogoutURL string
	// DevTenant shows the dev tenant's demo credentials on the page.
	DevTenant bool
	// Logger receives a line per failed request; nil discards.
	Logger *slog.Logger
}

// Server is the demo application's http.Handler.
type Server struct {
	cfg      Config
	csp      string
	configJS []byte
	mux      *http.ServeMux
	log      *slog.Logger

	mu   sync.Mutex
	gzip map[string]gzipped // by file name; refreshed when the file changes
}

type gzipped struct {
	modTime time.Time
	size    int64
	body    []byte
}

// sdkTypes are the only files served from DistDir, with their media types;
// anything else there (tools, caches) stays private.
var sdkTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".wasm": "application/wasm",
	".ts":   "text/plain; charset=utf-8",
	".map":  "application/json",
}

// New checks cfg and builds the server. DistDir need not exist yet: the
// SDK may be built after the server starts.
func New(cfg Config) (*Server, error) {
	origin := originOf(cfg.Domain)
	if origin == "" {
		return nil, fmt.Errorf("demoserver: Domain must be an absolute http(s) URL, got %q", cfg.Domain)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("demoserver: ClientID is required")
	}
	if cfg.DistDir == "" {
		cfg.DistDir = "dist"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, gzip: map[string]gzipped{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.csp = CSP(origin)
	page := map[string]any{
		"domain":          strings.TrimSuffix(cfg.Domain, "/"),
		"clientId":        cfg.ClientID,
		"audience":        cfg.Audience,
		"apiUrl":          cfg.APIURL,
		"serverLogoutUrl": cfg.ServerLogoutURL,
		"devTenant":       cfg.DevTenant,
	}
	b, err := json.Marshal(page) // escapes < > & so the value cannot end the script
	if err != nil {
		return nil, err
	}
	s.configJS = []byte("window.SILENTAUTH_DEMO = " + string(b) + ";\n")

	m := http.NewServeMux()
	m.HandleFunc("GET /config.js", s.handleConfig)
	m.HandleFunc("GET /silentauth/{file}", s.handleSDK)
	m.HandleFunc("GET /{$}", s.handlePage)
	m.HandleFunc("GET /{file}", s.handlePage)
	s.mux = m
	return s, nil
}

// CSP is the policy the demo sends and the README recommends for pages using
// the SDK: scripts only from the page's origin plus wasm compilation, the
// hidden iframe only to the authorization server, fetches only to the two.
func CSP(authServerOrigin string) string {
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self' 'wasm-unsafe-eval'",
		"frame-src " + authServerOrigin,
		"connect-src 'self' " + authServerOrigin,
		"img-src 'self' data:",
		"style-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// ServeHTTP answers the page, /config.js and /silentauth/*.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !LocalHost(r.Host) {
		// A DNS-rebinding page reaches 127.0.0.1 under its own name: refuse it.
		http.Error(w, "the demo answers only Host localhost or 127.0.0.1", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", s.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(s.configJS)
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(web.FS, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8" // independent of the host's mime.types
	}
	w.Header().Set("Content-Type", ct)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// LocalHost reports whether a request's Host header (with or without a
// port) names the loopback machine as localhost, 127.0.0.1 or [::1]. The
// demo servers listen on 127.0.0.1 only, but a page on any site can resolve
// its own name to 127.0.0.1 (DNS rebinding); its requests carry that name.
func LocalHost(hostport string) bool {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		host = h
	} else if strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
		return false
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// sdkFileName accepts a bare file name in DistDir: no directory, no "..",
// nothing hidden, one of the SDK's extensions. The {file} wildcard is
// unescaped, so "a%2F..%2Fx.js" arrives here as "a/../x.js" and must be refused.
func sdkFileName(name string) (string, bool) {
	ct, ok := sdkTypes[path.Ext(name)]
	if !ok || !fs.ValidPath(name) || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", false
	}
	return ct, true
}

// handleSDK serves the built SDK, gzip-compressed when the browser accepts it.
func (s *Server) handleSDK(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	ct, ok := sdkFileName(name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	p := filepath.Join(s.cfg.DistDir, name)
	// os.Root keeps the open inside DistDir whatever the name (symlinks too).
	root, err := os.OpenRoot(s.cfg.DistDir)
	if err != nil {
		s.log.Warn("SDK directory missing; run `make build`", "dir", s.cfg.DistDir)
		http.Error(w, fmt.Sprintf("%s is not built yet: run `make build`", name), http.StatusNotFound)
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		s.log.Warn("SDK file missing; run `make build`", "file", p)
		http.Error(w, fmt.Sprintf("%s is not built yet: run `make build`", name), http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r) {
		http.ServeContent(w, r, name, st.ModTime(), f)
		return
	}
	body, err := s.compressed(name, f, st)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	h.Set("Last-Modified", st.ModTime().UTC().Format(http.TimeFormat))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// compressed returns the gzip form of f, compressing once per version of the file.
func (s *Server) compressed(name string, f *os.File, st os.FileInfo) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.gzip[name]
	s.mu.Unlock()
	if ok && c.modTime.Equal(st.ModTime()) && c.size == st.Size() {
		return c.body, nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := io.Copy(zw, f); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.gzip[name] = gzipped{modTime: st.ModTime(), size: st.Size(), body: buf.Bytes()}
	s.mu.Unlock()
	return buf.Bytes(), nil
}

// acceptsGzip reads Accept-Encoding, honouring an explicit "gzip;q=0" refusal.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q, found := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !found {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
