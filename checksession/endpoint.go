package checksession

import (
	"net"
	"net/url"
	"strings"
)

// loopbackHosts are the only hosts where plain http is allowed: a local dev
// server cannot have a certificate, and traffic to them never leaves the
// machine. Anything else must be https (API.md, invalid_configuration).
var loopbackHosts = map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}

// isLoopback reports whether host (from url.URL.Hostname) is a loopback name.
func isLoopback(host string) bool { return loopbackHosts[strings.ToLower(host)] }

// checkSchemeHost is the rule for every server URL: https, or http on a
// loopback host. The problem names the scheme and host it saw.
func checkSchemeHost(u *url.URL) string {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return "must be https:// (http:// only on localhost, 127.0.0.1 or [::1]), got http on host " + quote(u.Hostname())
	default:
		return "must be an https:// URL, got scheme " + quote(u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "must be an absolute URL with a host"
	}
	if u.User != nil {
		return "must not carry credentials"
	}
	return ""
}

// parseEndpoint accepts an absolute server URL only if it survives a parse
// round trip unchanged in scheme and host: what is checked here is exactly
// what later code (the iframe's origin, fetch, location.assign) will see, and
// a URL that re-parses differently, or not at all, never reaches it.
func parseEndpoint(raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "is not a URL (" + err.Error() + ")"
	}
	if problem := checkSchemeHost(u); problem != "" {
		return nil, problem
	}
	again, err := url.Parse(u.String())
	if err != nil || again.Scheme != u.Scheme || again.Host != u.Host {
		return nil, "does not survive a parse round trip: host " + quote(u.Host)
	}
	if _, err := url.Parse(origin(u)); err != nil {
		return nil, "has no usable origin: host " + quote(u.Host)
	}
	if strings.ContainsAny(u.Host, "%") && net.ParseIP(strings.Trim(u.Host, "[]")) == nil {
		return nil, "has an escaped or zoned host " + quote(u.Host)
	}
	return u, ""
}

// checkEndpoint validates one endpoint value: what is wrong with it, or ""
// when nothing is. The caller names the option or discovery field.
func checkEndpoint(raw string) (problem string) {
	_, problem = parseEndpoint(raw)
	return problem
}

// checkIssuer applies the endpoint rule plus OIDC's: an issuer is an https
// URL with no query or fragment (OpenID Connect Discovery 1.0, section 3).
func checkIssuer(raw string) (problem string) {
	u, problem := parseEndpoint(raw)
	if problem != "" {
		return problem
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "an issuer must not have a query or fragment, got " + quote(raw)
	}
	return ""
}

// parseOrigin reads one apiOrigins entry: a serialised origin such as
// "https://api.example.com" or "http://localhost:8081", nothing after the
// host. It returns the origin as the browser serialises it (lower case, no
// default port), so that a string compare with URL.origin is enough.
func parseOrigin(raw string) (string, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "is not a URL (" + err.Error() + ")"
	}
	if problem := checkSchemeHost(u); problem != "" {
		return "", problem
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.Opaque != "" {
		return "", "must be an origin like \"https://api.example.com\", with no path, query or fragment"
	}
	if _, problem := parseEndpoint(raw); problem != "" {
		return "", problem
	}
	host := strings.ToLower(u.Hostname())
	if problem := matchableHost(host); problem != "" {
		return "", problem
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, ""
}

// matchableHost says why an apiOrigins host can never equal a browser's
// URL.origin, or "" when it can: the browser serialises a host as ASCII
// (an internationalised name in its punycode form) and knows no wildcards,
// so such an entry would silently match nothing.
func matchableHost(host string) string {
	if strings.HasPrefix(host, "[") || strings.Contains(host, ":") {
		return "" // an IPv6 literal: the URL parser checked it
	}
	for _, r := range host {
		switch {
		case r == '*':
			return "has a wildcard (" + quote(host) + "), which never matches: list each origin"
		case r > 0x7f:
			return "has a host that is not ASCII (" + quote(host) + "), which never matches the browser's origin: write the name in its punycode (xn--) form"
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return "has the character " + quote(string(r)) + " in its host (" + quote(host) + "), which no origin has"
		}
	}
	return ""
}

// CheckAPIURL is client.fetch's guard: it returns nil when rawURL's origin is
// one of apiOrigins, else an invalid_configuration error naming the origin
// and the option. Nothing may be sent for a URL it refuses.
func (c *Client) CheckAPIURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return invalidOption("APIOrigins", "client.fetch needs an absolute URL, got one without an origin")
	}
	o, problem := parseOrigin(origin(u))
	if problem != "" {
		o = origin(u)
	}
	for _, allowed := range c.s.apiOrigins {
		if o == allowed {
			return nil
		}
	}
	return invalidOption("APIOrigins", "client.fetch does not send the access token to "+quote(o)+
		", which is not in apiOrigins "+quoteList(c.s.apiOrigins)+"; add it to the apiOrigins option if it is your API")
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
