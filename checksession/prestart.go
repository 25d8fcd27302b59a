package checksession

import (
	"context"
	"net/url"
	"slices"
)

// PrestartedRequest is the first silent request as the page started it while
// the runtime was still booting: its iframe already loads URL. The loader
// knows only the options, so Go adopts it only when the request it would
// have made itself is the same one with these secrets.
type PrestartedRequest struct {
	URL          string // the authorize URL the iframe was navigated to
	State        string
	Nonce        string
	CodeVerifier string // "" unless response_type is code
}

// Prestarter is what a Browser offers when its page prestarted the first
// silent request.
type Prestarter interface {
	// TakePrestarted hands the prestarted request over once; nil when there
	// is none, it was taken, or ctx ended first.
	TakePrestarted(ctx context.Context) *PrestartedRequest
	// SettlePrestarted says what became of the request TakePrestarted
	// handed over: adopted, the next OpenFrame(url) attaches to its iframe
	// (delivering first what arrived before); otherwise its iframe and
	// listeners are removed.
	SettlePrestarted(adopt bool, url string)
}

// adoptPrestarted returns the transaction and authorize URL of the first
// silent request: the prestarted one when it asks for exactly what t and u
// ask for, else t and u. A prestarted request that does not match is
// discarded, never answered.
func (c *Client) adoptPrestarted(ctx context.Context, m *Metadata, t *transaction, r request, u string) (*transaction, string) {
	p, ok := c.browser.(Prestarter)
	if !ok {
		return t, u
	}
	pre := p.TakePrestarted(ctx)
	if pre == nil {
		return t, u
	}
	a := *t
	a.State, a.Nonce, a.CodeVerifier = pre.State, pre.Nonce, ""
	if t.CodeVerifier != "" {
		a.CodeVerifier = pre.CodeVerifier
	}
	au, err := authorizeURL(m.AuthorizationEndpoint, c.s.ClientID, &a, r, c.s.requestScope(a.Scope), "web_message")
	if why := samePrestartedRequest(au, pre, t); err != nil || why != "" {
		p.SettlePrestarted(false, "")
		c.debug("the prestarted silent request is not adopted: " + why)
		return t, u
	}
	p.SettlePrestarted(true, au)
	c.debug("adopted the prestarted silent request")
	return &a, au
}

// samePrestartedRequest says why the prestarted request is not the one Go
// builds as want, or "" when it is: the same endpoint and the same
// parameters, each once, whatever their order and encoding. The secrets must
// be fresh-sized (a short state is guessable) and the challenge must be the
// verifier's, since want recomputes it.
func samePrestartedRequest(want string, pre *PrestartedRequest, t *transaction) string {
	if len(pre.State) < 22 || len(pre.Nonce) < 22 || (t.CodeVerifier != "" && len(pre.CodeVerifier) < 43) {
		return "its state, nonce or verifier is too short"
	}
	w, err := url.Parse(want)
	if err != nil {
		return "unparsable authorize URL"
	}
	g, err := url.Parse(pre.URL)
	if err != nil {
		return "its URL does not parse"
	}
	if g.Scheme != w.Scheme || g.Host != w.Host || g.Path != w.Path || g.Fragment != "" {
		return "another authorization endpoint: " + redactURL(pre.URL)
	}
	wq, gq := w.Query(), g.Query()
	if len(wq) != len(gq) {
		return "other parameters: " + redactURL(pre.URL)
	}
	for k, v := range wq {
		if !slices.Equal(v, gq[k]) {
			return "parameter " + k + " differs"
		}
	}
	return ""
}
