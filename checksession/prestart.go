package checksession

import (
	"context"
	"net/url"
	"slices"

	"github.com/silentauth/silentauth/checksession/platform"
)

// adoptPrestarted returns the transaction and authorize URL of the first
// silent request: the prestarted one when it asks for exactly what t and u
// ask for, else t and u. A prestarted request that does not match is
// discarded, never answered.
func (fl *authFlow) adoptPrestarted(ctx context.Context, m *serverMetadata, t *transaction, r request, u string) (*transaction, string) {
	p, ok := fl.browser.(platform.Prestarter)
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
	au, err := authorizeURL(m.AuthorizationEndpoint, fl.s.ClientID, &a, r, fl.s.requestScope(a.Scope), "web_message")
	if why := samePrestartedRequest(au, pre, t); err != nil || why != "" {
		p.SettlePrestarted(false, "")
		fl.log.debug("the prestarted silent request is not adopted: " + why)
		return t, u
	}
	p.SettlePrestarted(true, au)
	fl.log.debug("adopted the prestarted silent request")
	return &a, au
}

// samePrestartedRequest says why the prestarted request is not the one Go
// builds as want, or "" when it is: the same endpoint and the same
// parameters, each once, whatever their order and encoding. The secrets must
// be fresh-sized (a short state is guessable) and the challenge must be the
// verifier's, since want recomputes it.
func samePrestartedRequest(want string, pre *platform.PrestartedRequest, t *transaction) string {
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
