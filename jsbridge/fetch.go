//go:build js && wasm

package jsbridge

import (
	"context"
	"fmt"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// Fetch sends req with the browser's fetch, mode "cors" and credentials
// "omit": token and discovery requests must not carry the page's cookies.
// net/http would work too but doubles the wasm size. An error means no HTTP
// answer arrived (offline, DNS, CORS refusal, ctx ended); any status,
// 4xx and 5xx included, is a response.
func (b *Browser) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	controller, err := construct("AbortController")
	if err != nil {
		return nil, fmt.Errorf("jsbridge: AbortController: %w", err)
	}
	signal, err := controller.Get("signal")
	if err != nil {
		return nil, err
	}
	// Abort the request itself when ctx ends; Await alone would only stop waiting.
	stop := context.AfterFunc(ctx, func() { _, _ = controller.Call("abort") })
	defer stop()

	init, err := fetchInit(req, signal)
	if err != nil {
		return nil, err
	}
	// fetch must be called with window as this, hence Call rather than Invoke.
	p, err := b.window.Call("fetch", req.URL, init)
	if err != nil {
		return nil, fmt.Errorf("jsbridge: fetch %s: %w", req.URL, err)
	}
	resp, err := Await(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("jsbridge: fetch %s: %w", req.URL, err)
	}
	r, inBody, err := readResponse(ctx, resp)
	switch {
	case !inBody:
		return r, err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("jsbridge: fetch %s: reading body: %w", req.URL, err)
}

// readResponse reads a fetch Response into what the core gets. inBody tells
// a failure to read the body, where the answer broke off or ctx ended, from
// one to read the Response itself.
func readResponse(ctx context.Context, resp safejs.Value) (r *platform.HTTPResponse, inBody bool, err error) {
	status, err := resp.Get("status")
	if err != nil {
		return nil, false, err
	}
	code, err := status.Int()
	if err != nil {
		return nil, false, err
	}
	header, err := responseHeader(resp)
	if err != nil {
		return nil, false, err
	}
	body, err := readBody(ctx, resp)
	if err != nil {
		return nil, true, err
	}
	return &platform.HTTPResponse{Status: code, Header: header, Body: body}, false, nil
}

// responseHeader reads platform.ResponseHeaders from a Response, names in lower case.
func responseHeader(resp safejs.Value) (map[string]string, error) {
	h, err := resp.Get("headers")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range platform.ResponseHeaders() {
		v, err := h.Call("get", name)
		if err != nil {
			return nil, err
		}
		if v.Type() == safejs.TypeString {
			s, err := v.String()
			if err != nil {
				return nil, err
			}
			out[name] = s
		}
	}
	return out, nil
}

func fetchInit(req platform.HTTPRequest, signal safejs.Value) (safejs.Value, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	headers := make(map[string]any, len(req.Header))
	for k, v := range req.Header {
		headers[k] = v
	}
	init, err := ToJS(map[string]any{
		"method":      method,
		"headers":     headers,
		"mode":        "cors",
		"credentials": "omit",
	})
	if err != nil {
		return safejs.Value{}, err
	}
	if err := init.Set("signal", signal); err != nil {
		return safejs.Value{}, err
	}
	if req.Body != nil {
		body, err := bytesToJS(req.Body)
		if err != nil {
			return safejs.Value{}, err
		}
		if err := init.Set("body", body); err != nil {
			return safejs.Value{}, err
		}
	}
	return init, nil
}

func readBody(ctx context.Context, resp safejs.Value) ([]byte, error) {
	p, err := resp.Call("arrayBuffer")
	if err != nil {
		return nil, err
	}
	buf, err := Await(ctx, p)
	if err != nil {
		return nil, err
	}
	u8, err := construct("Uint8Array", buf)
	if err != nil {
		return nil, err
	}
	return bytesToGo(u8)
}

// bytesToGo copies a Uint8Array into a new slice.
func bytesToGo(u8 safejs.Value) ([]byte, error) {
	n, err := u8.Length()
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	if _, err := safejs.CopyBytesToGo(out, u8); err != nil {
		return nil, err
	}
	return out, nil
}

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) (safejs.Value, error) {
	u8, err := construct("Uint8Array", len(b))
	if err != nil {
		return safejs.Value{}, err
	}
	if _, err := safejs.CopyBytesToJS(u8, b); err != nil {
		return safejs.Value{}, err
	}
	return u8, nil
}
