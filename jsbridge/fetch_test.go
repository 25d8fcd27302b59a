//go:build js && wasm

package jsbridge_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

func TestFetchOfTheTestServerReturnsStatusAndBody(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	resp, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "GET", URL: b.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Errorf("Status = %d, want 200", resp.Status)
	}
	// The test server's page is the one running this test.
	if !strings.Contains(string(resp.Body), "wasm_exec.js") {
		t.Errorf("Body does not look like the test page: %.200q", resp.Body)
	}
}

func TestFetchSendsMethodHeadersBodyWithoutCredentials(t *testing.T) {
	baseline(t)
	// Record what reaches window.fetch, then let the real fetch run.
	js(t, `(() => {
		const real = window.fetch;
		window.__restoreFetch = () => { window.fetch = real; };
		window.fetch = function (url, init) {
			window.__init = {
				method: init.method, mode: init.mode, credentials: init.credentials,
				ct: init.headers["Content-Type"], body: new TextDecoder().decode(init.body),
				signal: init.signal instanceof AbortSignal,
			};
			return real.call(this, url, init);
		};
	})()`)
	defer js(t, `__restoreFetch()`)
	b := newBrowser(t)
	_, err := b.Fetch(context.Background(), platform.HTTPRequest{
		Method: "POST",
		URL:    b.Location(),
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:   []byte("grant_type=authorization_code&code=é"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := jsString(t, `JSON.stringify(__init)`)
	want := `{"method":"POST","mode":"cors","credentials":"omit","ct":"application/x-www-form-urlencoded","body":"grant_type=authorization_code&code=é","signal":true}`
	if got != want {
		t.Errorf("fetch init = %s\nwant          %s", got, want)
	}
}

func TestFetchToAClosedPortIsAnError(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	resp, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "GET", URL: "http://127.0.0.1:1/token"})
	if err == nil {
		t.Fatalf("Fetch = %+v, nil error; want an error", resp)
	}
}

func TestFetchCancelledByContextAbortsTheRequest(t *testing.T) {
	baseline(t)
	// A fetch that only ever ends by being aborted.
	js(t, `(() => {
		const real = window.fetch;
		window.__restoreFetch = () => { window.fetch = real; };
		window.__aborted = false;
		window.fetch = (url, init) => new Promise((_, reject) => {
			init.signal.addEventListener("abort", () => { window.__aborted = true; reject(init.signal.reason); });
		});
	})()`)
	defer js(t, `__restoreFetch()`)
	b := newBrowser(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := b.Fetch(ctx, platform.HTTPRequest{Method: "GET", URL: b.Location()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	eventually(t, "signal aborted", func() bool { return jsString(t, `String(__aborted)`) == "true" })
}

func TestFetchReportsCacheControl(t *testing.T) {
	baseline(t)
	// A Response the test makes, since the test server's headers are not ours to choose.
	js(t, `(() => {
		const real = window.fetch;
		window.__restoreFetch = () => { window.fetch = real; };
		window.fetch = async () => new Response('{"keys":[]}', {status: 200,
			headers: {"Cache-Control": "public, max-age=600", "Content-Type": "application/json"}});
	})()`)
	defer js(t, `__restoreFetch()`)
	b := newBrowser(t)
	resp, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "GET", URL: b.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header["cache-control"]; got != "public, max-age=600" {
		t.Errorf(`Header["cache-control"] = %q, want "public, max-age=600" (all: %v)`, got, resp.Header)
	}
}

func TestFetchReportsRetryAfter(t *testing.T) {
	baseline(t)
	js(t, `(() => {
		const real = window.fetch;
		window.__restoreFetch = () => { window.fetch = real; };
		window.fetch = async () => new Response('{"error":"temporarily_unavailable"}', {status: 503,
			headers: {"Retry-After": "20", "Content-Type": "application/json"}});
	})()`)
	defer js(t, `__restoreFetch()`)
	b := newBrowser(t)
	resp, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "POST", URL: b.Location()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 503 || resp.Header["retry-after"] != "20" {
		t.Errorf(`HTTP %d, Header["retry-after"] = %q, want 503 and "20" (all: %v)`, resp.Status, resp.Header["retry-after"], resp.Header)
	}
}
