// Command silentauth-demo runs the demo application and, unless -issuer
// names another OpenID Provider, the offline dev tenant next to it.
//
// Both servers listen on 127.0.0.1 only. Their URLs use "localhost" so that
// the app and the tenant are same-site and the tenant's SameSite=Lax session
// cookie reaches the hidden iframe.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "silentauth-demo:", err)
		os.Exit(1)
	}
}

type options struct {
	tenantPort, appPort int
	tokenLifetime       time.Duration
	sessionLifetime     time.Duration
	refreshLifetime     time.Duration // 0: the dev tenant's default
	dist                string
	issuer, clientID    string
	audience            string
	quiet               bool
	// allowOrigins are more application origins the dev tenant's clients
	// accept (callback URL, web origin, logout URL): your own app's.
	allowOrigins []string
}

// originList is the repeatable -allow-origin flag.
type originList struct{ origins *[]string }

func (l originList) String() string {
	if l.origins == nil {
		return ""
	}
	return strings.Join(*l.origins, " ")
}

func (l originList) Set(s string) error {
	o, err := devtenant.ParseOrigin(s)
	if err != nil {
		return err
	}
	*l.origins = append(*l.origins, o)
	return nil
}

// splitOrigins reads SILENTAUTH_ALLOW_ORIGINS: origins separated by commas or spaces.
func splitOrigins(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		o, err := devtenant.ParseOrigin(f)
		if err != nil {
			return nil, fmt.Errorf("SILENTAUTH_ALLOW_ORIGINS: %w", err)
		}
		out = append(out, o)
	}
	return out, nil
}

// env returns the environment value of key, or def when it is unset.
func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("silentauth-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenantPort, err1 := strconv.Atoi(env("SILENTAUTH_TENANT_PORT", "3000"))
	appPort, err2 := strconv.Atoi(env("SILENTAUTH_APP_PORT", "8080"))
	tokenLT, err3 := time.ParseDuration(env("SILENTAUTH_TOKEN_LIFETIME", "45s"))
	sessLT, err4 := time.ParseDuration(env("SILENTAUTH_SESSION_LIFETIME", "1h"))
	rtLT, err5 := time.ParseDuration(env("SILENTAUTH_REFRESH_TOKEN_LIFETIME", "0s"))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return o, fmt.Errorf("bad SILENTAUTH_* environment value: %w", err)
	}
	envOrigins, err := splitOrigins(env("SILENTAUTH_ALLOW_ORIGINS", ""))
	if err != nil {
		return o, err
	}
	fs.IntVar(&o.tenantPort, "tenant-port", tenantPort, "dev tenant port (env SILENTAUTH_TENANT_PORT; 0 picks a free one)")
	fs.IntVar(&o.appPort, "app-port", appPort, "demo app port (env SILENTAUTH_APP_PORT; 0 picks a free one)")
	fs.DurationVar(&o.tokenLifetime, "token-lifetime", tokenLT, "access token lifetime, short so renewals show within a minute (env SILENTAUTH_TOKEN_LIFETIME)")
	fs.DurationVar(&o.sessionLifetime, "session-lifetime", sessLT, "dev tenant session lifetime, Auth0's \"require log in after\" (env SILENTAUTH_SESSION_LIFETIME)")
	fs.DurationVar(&o.refreshLifetime, "refresh-token-lifetime", rtLT, "dev tenant refresh-token lifetime from the login; rotation does not extend it (env SILENTAUTH_REFRESH_TOKEN_LIFETIME; 0: 30 days)")
	fs.StringVar(&o.dist, "dist", env("SILENTAUTH_DIST", "dist"), "directory holding the built SDK (env SILENTAUTH_DIST)")
	fs.StringVar(&o.issuer, "issuer", env("SILENTAUTH_ISSUER", ""), "use this OpenID Provider instead of the dev tenant (env SILENTAUTH_ISSUER)")
	fs.StringVar(&o.clientID, "client-id", env("SILENTAUTH_CLIENT_ID", ""), "client id at -issuer (env SILENTAUTH_CLIENT_ID; default \"spa\" with the dev tenant)")
	fs.StringVar(&o.audience, "audience", env("SILENTAUTH_AUDIENCE", ""), "audience to request (env SILENTAUTH_AUDIENCE)")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log the dev tenant's decisions")
	var flagOrigins []string
	fs.Var(originList{&flagOrigins}, "allow-origin", "also accept this app origin, e.g. http://localhost:5173, as callback URL, web origin and logout URL; repeatable (env SILENTAUTH_ALLOW_ORIGINS, comma or space separated)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.allowOrigins = append(envOrigins, flagOrigins...)
	if len(o.allowOrigins) > 0 && o.issuer != "" {
		return o, errors.New("-allow-origin registers origins at the dev tenant; with -issuer, register them at that provider instead")
	}
	if o.issuer != "" && o.clientID == "" {
		return o, errors.New("-issuer needs -client-id: the client registered at that provider for http://localhost:APP_PORT")
	}
	if o.clientID == "" {
		o.clientID = "spa"
	}
	return o, nil
}

// listenLocal binds the loopback interface only; the dev tenant must never be reachable from elsewhere.
func listenLocal(port int) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, "", err
	}
	return ln, fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	appLn, appURL, err := listenLocal(o.appPort)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	var servers []*http.Server
	var listeners []net.Listener

	demo := demoserver.Config{ClientID: o.clientID, Audience: o.audience, DistDir: o.dist, Logger: logger}
	tenantURL := ""
	if o.issuer == "" {
		var tenantLn net.Listener
		tenantLn, tenantURL, err = listenLocal(o.tenantPort)
		if err != nil {
			appLn.Close()
			return fmt.Errorf("dev tenant: %w", err)
		}
		tlog := logger.With("server", "devtenant")
		if o.quiet {
			tlog = nil
		}
		tenant, err := devtenant.New(tenantConfig(o, tenantURL, appURL, tlog))
		if err != nil {
			appLn.Close()
			tenantLn.Close()
			return err
		}
		demo.Domain = tenantURL
		demo.APIURL = tenantURL + "/api/private"
		demo.ServerLogoutURL = tenantURL + "/v2/logout"
		demo.DevTenant = true
		servers = append(servers, &http.Server{Handler: tenant, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, tenantLn)
	} else {
		demo.Domain = strings.TrimSuffix(o.issuer, "/")
	}
	app, err := demoserver.New(demo)
	if err != nil {
		appLn.Close()
		for _, ln := range listeners {
			ln.Close()
		}
		return err
	}
	servers = append(servers, &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second})
	listeners = append(listeners, appLn)

	printBanner(stdout, o, appURL, tenantURL)

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nshutting down")
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(shutdownCtx)
	}
	return err
}

// tenantConfig is the dev tenant's setup: its clients accept the demo app
// and every -allow-origin.
func tenantConfig(o options, tenantURL, appURL string, logger *slog.Logger) devtenant.Config {
	return devtenant.Config{
		Issuer: tenantURL, TokenLifetime: o.tokenLifetime, SessionLifetime: o.sessionLifetime,
		RefreshTokenLifetime: o.refreshLifetime,
		AppOrigins:           append([]string{appURL}, o.allowOrigins...), Logger: logger,
	}
}

func printBanner(w io.Writer, o options, appURL, tenantURL string) {
	line := strings.Repeat("=", 72)
	fmt.Fprintln(w, line)
	fmt.Fprintln(w, " silentauth demo: DEVELOPMENT SERVER, listening on 127.0.0.1 only")
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, " Demo app       %s\n", appURL)
	if tenantURL != "" {
		fmt.Fprintf(w, " Dev tenant     %s  (issuer %s/)\n", tenantURL, tenantURL)
		fmt.Fprintf(w, " Tokens live    %s; sessions live %s\n", o.tokenLifetime, o.sessionLifetime)
		fmt.Fprintln(w, " Users          demo@example.com / demo")
		fmt.Fprintln(w, "                mfa-once@example.com / demo    (MFA code 123456, once per session)")
		fmt.Fprintln(w, "                mfa-always@example.com / demo  (MFA every time: silent renewal fails)")
		fmt.Fprintln(w, "                interaction@example.com / demo (redirect rule: interaction_required)")
		for _, origin := range o.allowOrigins {
			fmt.Fprintf(w, " Also allowed   %s  (callback URL, web origin and logout URL of client %q)\n", origin, o.clientID)
		}
		fmt.Fprintf(w, " Fault switches curl -X POST -H 'Content-Type: application/json' -d '{\"no_message\":true}' %s/dev/faults\n", tenantURL)
		fmt.Fprintf(w, "                curl -X POST -H 'X-Devtenant: 1' %s/dev/end-sessions   (also reset, expire-sessions, rotate-keys)\n", tenantURL)
	} else {
		fmt.Fprintf(w, " Provider       %s  (client %s; register %s as callback, web origin and logout URL)\n", o.issuer, o.clientID, appURL)
	}
	if _, err := os.Stat(filepath.Join(o.dist, "silentauth.js")); err != nil {
		fmt.Fprintf(w, " WARNING        %s/silentauth.js is missing: run `make build`\n", o.dist)
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w, " Ctrl-C stops both servers.")
}
