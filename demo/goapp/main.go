//go:build js && wasm

// Command goapp is a Go WebAssembly application that uses silentauth's Go
// API directly, with no JS SDK in between: package checksession does the
// work, jsbridge.NewBrowser gives it the page. On load it finishes an
// interactive login (when the address bar carries one) or asks for a silent
// session, then keeps the tokens fresh with auto-renew and logs every
// renewal into <pre id="log">. It exposes nothing to JavaScript.
//
// The page (index.html) sets window.GOAPP_CONFIG = {domain, clientId} and
// has a "Log in" button; see demo/e2e/goapp for the server.
package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

func main() {
	if err := run(); err != nil {
		logf("error: %v", err)
	}
	// The client's timers and the login button run on this runtime.
	select {}
}

func run() error {
	domain, clientID, err := config()
	if err != nil {
		return err
	}
	b, err := jsbridge.NewBrowser()
	if err != nil {
		return err
	}
	c, err := checksession.NewClient(checksession.Options{
		Domain:      domain,
		ClientID:    clientID,
		RedirectURI: b.Origin() + "/",
		AutoRenew:   new(true), // the default, spelled out: renew before expiry
		OnEvent:     onEvent,
		Logger:      func(level checksession.LogLevel, line string) { logf("sdk %s: %s", level, line) },
	}, b, platform.SystemClock{})
	if err != nil {
		b.Close()
		return err
	}
	if err := onClick("login", func() {
		// Leaves the page; the tenant sends the browser back to RedirectURI.
		if err := c.LoginWithRedirect(context.Background(), checksession.AuthorizeParams{}); err != nil {
			logf("login: %v", err)
		}
	}); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var res *checksession.AuthResult
	if checksession.HasAuthResponse(b.Location()) {
		res, err = c.HandleRedirectCallback(ctx, "")
		if err != nil {
			return fmt.Errorf("login callback: %w", err)
		}
		logf("logged in as %v, token expires %s", res.IDTokenPayload["email"], res.ExpiresAt.Format(time.TimeOnly))
	} else {
		res, err = c.CheckSession(ctx, checksession.AuthorizeParams{})
		if checksession.EndsSession(err) {
			logf("no session (%v): log in", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("checkSession: %w", err)
		}
		logf("session for %v, token expires %s", res.IDTokenPayload["email"], res.ExpiresAt.Format(time.TimeOnly))
	}
	c.StartAutoRenew()
	return nil
}

// onEvent logs the client's events: a renewal's result, or the error.
func onEvent(e checksession.Event) {
	switch {
	case e.Result != nil:
		logf("%s: token for %v until %s", e.Name, e.Result.IDTokenPayload["email"], e.Result.ExpiresAt.Format(time.TimeOnly))
	case e.Err != nil:
		logf("%s: %s: %s", e.Name, e.Err.Code, e.Err.Description)
	default:
		logf("%s", e.Name)
	}
}

// config reads window.GOAPP_CONFIG, which the page's server writes.
func config() (domain, clientID string, err error) {
	cfg, err := safejs.Global().Get("GOAPP_CONFIG")
	if err != nil || cfg.Type() != safejs.TypeObject {
		return "", "", errors.New("window.GOAPP_CONFIG is not set")
	}
	d, err := cfg.Get("domain")
	if err != nil {
		return "", "", err
	}
	id, err := cfg.Get("clientId")
	if err != nil {
		return "", "", err
	}
	domain, _ = d.String()
	clientID, _ = id.String()
	return domain, clientID, nil
}

// onClick runs fn on clicks of the element with that id, for the page's
// lifetime (the callback is never released: the button lives as long).
func onClick(id string, fn func()) error {
	el, err := element(id)
	if err != nil {
		return err
	}
	f, err := jsbridge.NewFunc(func(safejs.Value, []safejs.Value) any {
		// A click handler must not block the event loop; LoginWithRedirect
		// may fetch discovery first.
		go fn()
		return nil
	})
	if err != nil {
		return err
	}
	_, err = el.Call("addEventListener", "click", f.Value())
	return err
}

// logf appends a line to <pre id="log">.
func logf(format string, args ...any) {
	line := time.Now().Format("15:04:05.000") + " " + fmt.Sprintf(format, args...) + "\n"
	el, err := element("log")
	if err != nil {
		return
	}
	_, _ = el.Call("append", line)
}

func element(id string) (safejs.Value, error) {
	doc, err := safejs.Global().Get("document")
	if err != nil {
		return safejs.Value{}, err
	}
	el, err := doc.Call("getElementById", id)
	if err != nil {
		return safejs.Value{}, err
	}
	if el.IsNull() {
		return safejs.Value{}, fmt.Errorf("no #%s on the page", id)
	}
	return el, nil
}
