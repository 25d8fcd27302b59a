package checksession

import (
	"context"
	"sync"
)

// ErrDestroyed is returned by every call on a destroyed client.
var ErrDestroyed = &Error{Code: "destroyed", Description: "the client was destroyed"}

// Client runs silent authentication for one application.
type Client struct {
	s       *settings
	browser Browser
	clock   Clock
	disc    *discoverer

	ctx    context.Context // cancelled by Destroy
	cancel context.CancelFunc

	verifierOnce sync.Once
	verifier     *Verifier

	mu       sync.Mutex
	inflight map[string]*flight[*AuthResult] // request key → the silent request in flight
	cache    map[string]*AuthResult          // request cacheKey → last result
	user     map[string]any
	renewer  *renewer
}

// NewClient validates the options and builds a client. It does not touch the
// network: discovery happens on the first request.
func NewClient(opts Options, b Browser, clock Clock) (*Client, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	s, err := opts.validate(b.Origin())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		s: s, browser: b, clock: clock,
		ctx: ctx, cancel: cancel,
		inflight: map[string]*flight[*AuthResult]{},
		cache:    map[string]*AuthResult{},
	}
	c.disc = &discoverer{s: s, browser: b, log: c.debug}
	if s.SessionCheckInterval > 0 && s.SessionCheckInterval < minSessionPoll {
		c.warn("sessionCheckIntervalInSeconds under 60 s polls /authorize often; servers rate-limit it")
	}
	c.renewer = newRenewer(c)
	return c, nil
}

func (c *Client) debug(msg string) {
	if c.s.Debug && c.s.Logger != nil {
		c.s.Logger(msg)
	}
}

// warn is logged whether or not debug is on.
func (c *Client) warn(msg string) {
	if c.s.Logger != nil {
		c.s.Logger("warning: " + msg)
	}
}

func (c *Client) emit(name string, payload any) {
	if c.s.OnEvent != nil {
		c.s.OnEvent(name, payload)
	}
}

// offline reports navigator.onLine == false, where the browser can tell.
func (c *Client) offline() bool {
	o, ok := c.browser.(interface{ Online() bool })
	return ok && !o.Online()
}

// Metadata returns the server's endpoints, from discovery or the fallback.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	return c.disc.metadata(ctx)
}

// CheckSession asks the authorization server for fresh tokens through a
// hidden iframe with prompt=none and response_mode=web_message. Concurrent
// calls with the same parameters share one iframe and one result.
func (c *Client) CheckSession(ctx context.Context, p AuthorizeParams) (*AuthResult, error) {
	r, err := c.s.resolve(p)
	if err != nil {
		return nil, err
	}
	if prompt, ok := r.extra["prompt"]; ok && prompt != "none" {
		return nil, configError("prompt", "checkSession always sends prompt=none; use loginWithRedirect to show the login page")
	}
	res, err := c.shared(ctx, r)
	if err == nil {
		c.renewer.succeeded(r, res, false)
	} else {
		c.renewer.failed(r, err)
	}
	return res, err
}

// shared joins the request in flight with the same key, or starts one. The
// request runs on the client's context so that one caller giving up does not
// cancel it for the others.
func (c *Client) shared(ctx context.Context, r request) (*AuthResult, error) {
	if c.ctx.Err() != nil {
		return nil, ErrDestroyed
	}
	key := r.key()
	c.mu.Lock()
	f, joined := c.inflight[key]
	if !joined {
		f = newFlight[*AuthResult]()
		c.inflight[key] = f
		go func() {
			res, err := c.silent(c.ctx, r)
			c.mu.Lock()
			delete(c.inflight, key)
			c.mu.Unlock()
			f.finish(res, err)
		}()
	} else {
		c.debug("joining the silent request already in flight")
	}
	c.mu.Unlock()
	return f.wait(ctx)
}

func (c *Client) store(t *transaction, res *AuthResult) { c.storeFor(t.Audience, t.Scope, res) }

// storeFor caches a result for the audience and scope it was requested with.
func (c *Client) storeFor(audience, scope string, res *AuthResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache[request{audience: audience, scope: scope}.cacheKey()] = res
	if res.IDTokenPayload != nil {
		c.user = res.IDTokenPayload
	}
}

// GetTokenSilently returns the cached access token until it is due for
// renewal (renewBeforeExpiry ahead of expiry, or halfway through the life of
// a shorter-lived token), otherwise a fresh one from CheckSession.
func (c *Client) GetTokenSilently(ctx context.Context, p AuthorizeParams) (string, error) {
	r, err := c.s.resolve(p)
	if err != nil {
		return "", err
	}
	if r.responseType == "id_token" {
		return "", configError("responseType", `"id_token" produces no access token for getTokenSilently`)
	}
	if res := c.cached(r); res != nil {
		return res.AccessToken, nil
	}
	res, err := c.CheckSession(ctx, p)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

// cached is the stored result for r while its access token stays valid for
// longer than renewBeforeExpiry.
func (c *Client) cached(r request) *AuthResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.cache[r.cacheKey()]
	if res == nil || res.AccessToken == "" || res.ExpiresAt.IsZero() {
		return nil
	}
	if c.clock.Now().Before(res.renewAt(c.s.renewBeforeExpiry)) {
		return res
	}
	return nil
}

// GetUser returns the claims of the last validated ID token, or nil.
func (c *Client) GetUser() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// forget drops every token and the user.
func (c *Client) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache = map[string]*AuthResult{}
	c.user = nil
}

// Destroy stops renewal, cancels requests in flight (their iframes and
// listeners go with them) and makes every later call fail with ErrDestroyed.
func (c *Client) Destroy() {
	c.renewer.stop()
	c.cancel()
}
