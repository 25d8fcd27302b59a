//go:build js && wasm

package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// PrestartBrowser is a Browser whose loader gave the client a head start
// (wasm/loader/prestart.js): fetches already under way, and the first silent
// request's iframe already loading. It adopts them and changes nothing
// else: the core checks what they bring as it checks everything.
type PrestartBrowser struct {
	*Browser
	head safejs.Value

	mu      sync.Mutex
	taken   bool
	adopted string // the URL whose next OpenFrame attaches to the loader's iframe
	done    bool   // the iframe is Go's, or gone
	closed  bool   // the client is destroyed: nothing is adopted any more
}

var (
	_ platform.Browser    = (*PrestartBrowser)(nil)
	_ platform.Prestarter = (*PrestartBrowser)(nil)
)

// WithPrestart wraps b with the loader's head start; head is what the
// loader's prestart returned (an object, or null/undefined for none).
func WithPrestart(b *Browser, head safejs.Value) *PrestartBrowser {
	p := &PrestartBrowser{Browser: b, head: head}
	if head.Type() != safejs.TypeObject {
		p.done, p.closed = true, true
	}
	return p
}

// Fetch answers a GET the loader already sent with its response, and the
// code exchange the loader sent early with its answer; anything else, or a
// prefetch that failed, goes to the network as usual.
func (p *PrestartBrowser) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	if req.Method == "GET" && len(req.Header) == 0 && req.Body == nil {
		if resp, err := p.prefetched(ctx, req.URL); resp != nil || ctx.Err() != nil {
			return resp, err
		}
	}
	if req.IsFormPost() {
		if resp, err := p.exchanged(ctx, req); resp != nil || err != nil {
			return resp, err
		}
	}
	return p.Browser.Fetch(ctx, req)
}

// exchanged is the answer to the code exchange the loader sent early when
// req is that request, nil otherwise. A transport failure of the loader's
// request is this request's failure: Go's own would leave from the same
// page, through the same CSP and network, and where the loader's reached
// the server the code is spent, so a second could only earn invalid_grant.
// (The SharedWorker's engine sends its own instead: its CSP and network
// are not the page's.)
func (p *PrestartBrowser) exchanged(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, nil
	}
	promise, err := p.head.Call("takeExchange", req.URL, string(req.Body))
	if err != nil || promise.Type() != safejs.TypeObject {
		return nil, nil
	}
	held, err := Await(ctx, promise)
	if err != nil || held.Type() != safejs.TypeObject {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, nil // the fresh document named another endpoint: nothing was sent there
	}
	// When the loader's request left: the tokens' lifetime counts from then.
	var sent time.Time
	if v, err := held.Get("sentAt"); err == nil && v.Type() == safejs.TypeNumber {
		if ms, err := v.Float(); err == nil && ms > 0 {
			sent = time.UnixMilli(int64(ms))
		}
	}
	responsePromise, err := held.Get("response")
	if err != nil {
		return nil, nil
	}
	resp, err := Await(ctx, responsePromise)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, fmt.Errorf("jsbridge: fetch %s (sent early by the head start): %w", req.URL, err)
	case resp.Type() != safejs.TypeObject:
		return nil, nil
	}
	r, inBody, err := readResponse(ctx, resp)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil && inBody:
		return nil, fmt.Errorf("jsbridge: fetch %s (sent early by the head start): reading body: %w", req.URL, err)
	case err != nil:
		return nil, fmt.Errorf("jsbridge: fetch %s (sent early by the head start): %w", req.URL, err)
	}
	r.Early, r.Sent = true, sent
	return r, nil
}

func (p *PrestartBrowser) prefetched(ctx context.Context, url string) (*platform.HTTPResponse, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, nil
	}
	promise, err := p.head.Call("takeFetch", url)
	if err != nil || promise.Type() != safejs.TypeObject {
		return nil, nil
	}
	resp, err := Await(ctx, promise)
	if err != nil {
		return nil, ctx.Err()
	}
	r, inBody, _ := readResponse(ctx, resp)
	if inBody {
		return nil, ctx.Err()
	}
	return r, nil // nil where the Response was unreadable: the network answers instead
}

// TakePrestarted waits for the loader's first silent request (the loader
// opens it as soon as discovery answers, or gives up) and hands it over
// once; when ctx ends first, the request is dropped.
func (p *PrestartBrowser) TakePrestarted(ctx context.Context) *platform.PrestartedRequest {
	p.mu.Lock()
	if p.done || p.taken {
		p.mu.Unlock()
		return nil
	}
	p.taken = true
	p.mu.Unlock()
	promise, err := p.head.Call("takeRequest")
	if err != nil {
		p.discard()
		return nil
	}
	r, err := Await(ctx, promise)
	if err != nil || r.Type() != safejs.TypeObject {
		p.discard()
		return nil
	}
	var out platform.PrestartedRequest
	for _, f := range []struct {
		name string
		dst  *string
	}{{"url", &out.URL}, {"state", &out.State}, {"nonce", &out.Nonce}, {"codeVerifier", &out.CodeVerifier}} {
		if *f.dst, err = getString(r, f.name); err != nil {
			p.discard()
			return nil
		}
	}
	return &out
}

// SettlePrestarted adopts the loader's iframe for the next OpenFrame(url),
// or removes it.
func (p *PrestartBrowser) SettlePrestarted(adopt bool, url string) {
	if !adopt {
		p.discard()
		return
	}
	p.mu.Lock()
	p.adopted = url
	p.mu.Unlock()
}

// OpenFrame attaches to the loader's iframe when url is the adopted request:
// Go's listeners take over from the loader's, and the events the loader
// buffered reach them first, in order.
func (p *PrestartBrowser) OpenFrame(url string, h platform.FrameHandler) (platform.Frame, error) {
	p.mu.Lock()
	adopt := !p.done && p.adopted != "" && p.adopted == url
	if adopt {
		p.adopted, p.done = "", true
	}
	p.mu.Unlock()
	if !adopt {
		return p.Browser.OpenFrame(url, h)
	}
	f, err := p.attach(h)
	if err != nil {
		// Gone since it was adopted (its timeout passed): the same request
		// in an iframe of Go's own.
		_, _ = p.head.Call("dropRequest")
		return p.Browser.OpenFrame(url, h)
	}
	return f, nil
}

func (p *PrestartBrowser) attach(h platform.FrameHandler) (*frame, error) {
	f := &frame{window: p.window, handler: h}
	var err error
	if f.onMessage, err = NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		if !f.closed.Load() && f.handler.OnMessage != nil {
			f.handler.OnMessage(f.message(Arg(args, 0)))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if f.onLoad, err = NewFunc(func(safejs.Value, []safejs.Value) any {
		if !f.closed.Load() && f.handler.OnLoad != nil {
			f.handler.OnLoad()
		}
		return nil
	}); err != nil {
		f.onMessage.Release()
		return nil, err
	}
	iframe, err := p.head.Call("attach", f.onMessage.Value(), f.onLoad.Value())
	if err != nil || iframe.Type() != safejs.TypeObject {
		f.onMessage.Release()
		f.onLoad.Release()
		return nil, errors.Join(errors.New("jsbridge: the prestarted iframe is gone"), err)
	}
	f.iframe = iframe
	f.navigated.Store(true)
	f.inDocument.Store(true)
	liveFrames.Add(1)
	head := p.head
	f.unlisten = append(f.unlisten, func() { _, _ = head.Call("detach") })
	return f, nil
}

// discard removes the iframe unless Go has it; the prefetches stay.
func (p *PrestartBrowser) discard() {
	p.mu.Lock()
	done := p.done
	p.done, p.adopted = true, ""
	p.mu.Unlock()
	if !done {
		if _, err := p.head.Call("dropRequest"); err != nil {
			consoleError(fmt.Sprintf("silentauth: removing the prestarted iframe: %v", err))
		}
	}
}

// Close removes all that is left of the head start, then closes the Browser.
func (p *PrestartBrowser) Close() {
	p.mu.Lock()
	closed := p.closed
	p.done, p.closed, p.adopted = true, true, ""
	p.mu.Unlock()
	if !closed {
		_, _ = p.head.Call("discard")
	}
	p.Browser.Close()
}
