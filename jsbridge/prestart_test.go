//go:build js && wasm

package jsbridge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

// fakeHead is the loader's head start (wasm/loader/prestart.js) as Go sees
// it: prefetches by URL, code exchanges sent early by URL and body, and an
// iframe that loads postingPage and buffers what arrives until Go
// attaches. window.head.calls records Go's calls.
const fakeHead = `(() => {
  const calls = [];
  const fetches = new Map([
    ["data:text/plain,network", Promise.resolve(new Response("prefetched", {status: 203, headers: {"cache-control": "max-age=60"}}))],
    ["data:text/plain,failed", Promise.reject(new TypeError("Failed to fetch"))],
  ]);
  const exchanges = new Map([
    ["data:text/plain,network grant_type=authorization_code&code=c",
      Promise.resolve(new Response('{"access_token":"early"}', {status: 200, headers: {"content-type": "application/json", "x-other": "1"}}))],
    ["data:text/plain,spent grant_type=authorization_code&code=c", Promise.reject(new TypeError("Failed to fetch"))],
  ]);
  for (const p of [...fetches.values(), ...exchanges.values()]) p.catch(() => {});
  const iframe = document.createElement("iframe");
  const buffer = [];
  let handlers = null, attached = false;
  const onMessage = (e) => handlers ? handlers.message(e) : buffer.push(e);
  window.addEventListener("message", onMessage);
  document.body.appendChild(iframe);
  iframe.src = POSTING_PAGE;
  const end = () => { window.removeEventListener("message", onMessage); if (!attached) iframe.remove(); };
  const request = {url: "https://login.example.com/authorize?state=s", state: "s", nonce: "n", codeVerifier: "v"};
  return window.head = {
    calls,
    buffered: () => buffer.length,
    takeFetch(url) { calls.push("takeFetch"); const p = fetches.get(url); fetches.delete(url); return p || null; },
    takeRequest() { calls.push("takeRequest"); return Promise.resolve(request); },
    takeExchange(url, body) {
      calls.push("takeExchange");
      const p = exchanges.get(url + " " + body);
      exchanges.delete(url + " " + body);
      return p ? Promise.resolve({response: p, sentAt: 1700000000000}) : null;
    },
    attach(message, load) {
      calls.push("attach");
      handlers = {message, load};
      attached = true;
      queueMicrotask(() => { for (const e of buffer.splice(0)) if (handlers) handlers.message(e); });
      return iframe;
    },
    detach() { calls.push("detach"); end(); handlers = null; },
    dropRequest() { calls.push("dropRequest"); end(); },
    discard() { calls.push("discard"); end(); },
  };
})()`

func newHead(t *testing.T) (*jsbridge.PrestartBrowser, safejs.Value) {
	t.Helper()
	head := js(t, strings.ReplaceAll(fakeHead, "POSTING_PAGE", "`"+postingPage+"`"))
	return jsbridge.WithPrestart(newBrowser(t), head), head
}

// wantHeadCalls checks the calls Go made to the loader's head start, in order.
func wantHeadCalls(t *testing.T, want string) {
	t.Helper()
	if calls := jsString(t, `head.calls.join(",")`); calls != want {
		t.Errorf("calls %s, want %s", calls, want)
	}
}

func TestPrestartFetchAdoptsThePrefetchOnce(t *testing.T) {
	baseline(t)
	b, _ := newHead(t)
	defer b.Close()
	get := func(url string) *platform.HTTPResponse {
		t.Helper()
		r, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "GET", URL: url})
		if err != nil {
			t.Fatalf("Fetch %s: %v", url, err)
		}
		return r
	}
	r := get("data:text/plain,network")
	if string(r.Body) != "prefetched" || r.Status != 203 || r.Header["cache-control"] != "max-age=60" {
		t.Errorf("first fetch = %d %q %v, want the prefetched 203", r.Status, r.Body, r.Header)
	}
	if r := get("data:text/plain,network"); string(r.Body) != "network" || r.Status != 200 {
		t.Errorf("second fetch = %d %q, want the network's", r.Status, r.Body)
	}
	if r := get("data:text/plain,failed"); string(r.Body) != "failed" {
		t.Errorf("a failed prefetch = %q, want the network's answer", r.Body)
	}
}

// The code exchange the loader sent early answers Go's identical request
// once, marked early; a request of another shape is not even asked about,
// and one the loader does not hold goes to the network.
func TestPrestartFetchAdoptsTheEarlyCodeExchangeOnce(t *testing.T) {
	baseline(t)
	b, _ := newHead(t)
	defer b.Close()
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	post := func(url, body string, header map[string]string) *platform.HTTPResponse {
		t.Helper()
		r, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "POST", URL: url, Header: header, Body: []byte(body)})
		if err != nil {
			t.Fatalf("Fetch %s: %v", url, err)
		}
		return r
	}
	const code = "grant_type=authorization_code&code=c"
	withDPoP := map[string]string{"Content-Type": form["Content-Type"], "DPoP": "proof"}
	for _, tc := range []struct {
		name, url, body string
		header          map[string]string
	}{
		{"another body", "data:text/plain,network", code + "&x=1", form},
		{"another URL", "data:text/plain,other", code, form},
		{"another header", "data:text/plain,network", code, withDPoP},
		{"another content type", "data:text/plain,network", code, map[string]string{"Content-Type": "text/plain"}},
	} {
		if r := post(tc.url, tc.body, tc.header); r.Early || strings.Contains(string(r.Body), "early") {
			t.Errorf("%s: got the early exchange %d %q", tc.name, r.Status, r.Body)
		}
	}
	wantHeadCalls(t, "takeExchange,takeExchange")
	r := post("data:text/plain,network", code, form)
	if !r.Early || r.Status != 200 || string(r.Body) != `{"access_token":"early"}` || r.Header["content-type"] != "application/json" || len(r.Header) != 1 {
		t.Errorf("the identical request = %d %q %v early %v, want the early exchange's answer", r.Status, r.Body, r.Header, r.Early)
	}
	if !r.Sent.Equal(time.UnixMilli(1700000000000)) {
		t.Errorf("the early answer's Sent = %v, want when the loader's request left", r.Sent)
	}
	if r := post("data:text/plain,network", code, form); r.Early || string(r.Body) != "network" {
		t.Errorf("the identical request again = %q early %v, want the network's answer", r.Body, r.Early)
	}
	// The code is spent: the early request's failure is this request's.
	if r, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "POST", URL: "data:text/plain,spent", Header: form, Body: []byte(code)}); err == nil {
		t.Errorf("a failed early exchange = %d %q, want its error", r.Status, r.Body)
	}
}

func TestPrestartedFrameDeliversWhatArrivedBeforeGoThenCloses(t *testing.T) {
	baseline(t)
	b, _ := newHead(t)
	defer b.Close()
	eventually(t, "the page's message buffered", func() bool { return jsInt(t, "head.buffered()") == 1 })
	pre := b.TakePrestarted(context.Background())
	if pre == nil || pre.State != "s" || pre.Nonce != "n" || pre.CodeVerifier != "v" {
		t.Fatalf("TakePrestarted = %+v", pre)
	}
	if again := b.TakePrestarted(context.Background()); again != nil {
		t.Errorf("taken twice: %+v", again)
	}
	b.SettlePrestarted(true, pre.URL)
	h, msgs, _ := messages()
	f := mustOpenFrame(t, b, pre.URL, h)
	m := next(t, msgs, "the buffered message")
	if !m.FromFrame || m.Origin != "null" || string(m.Data) != `{"type":"authorization_response","response":{"state":"s"}}` {
		t.Errorf("message = %+v %s", m, m.Data)
	}
	if iframeCount(t) != 1 {
		t.Errorf("iframes = %d, want the loader's one", iframeCount(t))
	}
	f.Close()
	wantHeadCalls(t, "takeRequest,attach,detach")
}

func TestPrestartedFrameNotAdoptedIsDropped(t *testing.T) {
	baseline(t)
	b, _ := newHead(t)
	pre := b.TakePrestarted(context.Background())
	b.SettlePrestarted(false, "")
	eventually(t, "the loader's iframe removed", func() bool { return iframeCount(t) == 0 })
	// Go's own frame for the same URL is a new iframe.
	h, _, _ := messages()
	mustOpenFrame(t, b, pre.URL, h).Close()
	b.Close()
	wantHeadCalls(t, "takeRequest,dropRequest,discard")
}

func TestPrestartClosedUnusedDiscardsEverything(t *testing.T) {
	baseline(t)
	b, _ := newHead(t)
	b.Close()
	wantHeadCalls(t, "discard")
	if b.TakePrestarted(context.Background()) != nil {
		t.Error("a closed browser handed over its request")
	}
}

func TestWithoutAHeadStartNothingIsAdopted(t *testing.T) {
	baseline(t)
	b := jsbridge.WithPrestart(newBrowser(t), safejs.Null())
	defer b.Close()
	if b.TakePrestarted(context.Background()) != nil {
		t.Error("a request without a head start")
	}
	r, err := b.Fetch(context.Background(), platform.HTTPRequest{Method: "GET", URL: "data:text/plain,network"})
	if err != nil || string(r.Body) != "network" {
		t.Errorf("Fetch = %v %v", r, err)
	}
}
