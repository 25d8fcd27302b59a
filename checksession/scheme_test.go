package checksession

import (
	"context"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/checksession/platform"
)

// "localhost:3000" for a server without TLS fails as network_error; the
// error must say that https:// was assumed, or it reads as a server down.
func TestADomainWithoutSchemeSaysHTTPSWasAssumedWhenItFails(t *testing.T) {
	for _, tc := range []struct {
		name, domain string
		wantNote     bool
	}{
		{name: "no scheme: noted", domain: strings.TrimPrefix(serverOrigin, "https://"), wantNote: true},
		{name: "scheme written out: nothing to note", domain: serverOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			delete(fx.b.routes, serverOrigin+"/.well-known/openid-configuration")
			c := fx.client(func(o *Options) { o.Domain = tc.domain })
			_, err := c.CheckSession(context.Background(), AuthorizeParams{})
			if errCode(err) != "network_error" {
				t.Fatalf("got %v, want network_error", err)
			}
			noted := strings.Contains(err.Error(), "has no scheme, so https:// was assumed: "+serverOrigin)
			if noted != tc.wantNote {
				t.Fatalf("noted %v, want %v: %v", noted, tc.wantNote, err)
			}
		})
	}
}

// A discovery failure that is about the Domain option keeps the note for
// JS callers too: the note is part of the problem Error.Option gives, as
// of the Description Go callers read.
func TestTheSchemeNoteReachesEveryCallerOfAnOptionError(t *testing.T) {
	fx := newFixture(t)
	fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
		return &platform.HTTPResponse{Status: 200, Body: []byte("<html>")}, nil
	}
	c := fx.client(func(o *Options) { o.Domain = strings.TrimPrefix(serverOrigin, "https://") })
	_, err := c.CheckSession(context.Background(), AuthorizeParams{})
	e, ok := err.(*Error)
	if !ok || e.Code != "invalid_configuration" {
		t.Fatalf("got %v, want invalid_configuration", err)
	}
	field, problem := e.Option()
	if field != "Domain" || !strings.Contains(problem, "https:// was assumed") || e.Description != "Options.Domain: "+problem {
		t.Fatalf("field %q, problem %q, description %q: want Domain, the note in both", field, problem, e.Description)
	}
}
