package oidc_test

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestInteropMatrix logs in once at each server and runs checkSession for
// each response type, checking every ID token again in Go against the
// server's JWKS, and logs the results as a table.
func TestInteropMatrix(t *testing.T) {
	type server struct {
		name  string
		login func(t *testing.T) (tab *e2eenv.Tab, domain string)
	}
	servers := []server{
		{"dev tenant (Auth0 dialect)", func(t *testing.T) (*e2eenv.Tab, string) {
			tab := openTestPage(t, e2eenv.TestPagePath)
			shared.tenant.Login(t, tab, "demo@example.com", "")
			return tab, shared.tenant.TenantURL
		}},
		{"node-oidc-provider 9.13.3", func(t *testing.T) (*e2eenv.Tab, string) {
			tab := openTestPage(t, callbackPath)
			opLogin(t, tab, shared.issuer, "frank", "")
			return tab, shared.issuer
		}},
	}
	flows := []string{"code", "id_token token"}

	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\tflow\tresult\tlogin\tcheckSession\tiss (ID token)\tat_hash\texpiresIn")
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			tab, domain := s.login(t)
			login := time.Since(start).Round(10 * time.Millisecond)
			for _, flow := range flows {
				o := checkSession(t, tab, fmt.Sprintf(`{responseType: %q}`, flow))
				result, iss, atHash := "ok", "", "-"
				if o.OK {
					claims := verifyIDToken(t, domain, o.IDToken, o.AccessToken, flow == "id_token token")
					iss, _ = claims["iss"].(string)
					if _, ok := claims["at_hash"]; ok {
						atHash = "yes"
					} else {
						atHash = "no"
					}
				} else {
					result = o.Error
					t.Errorf("%s, %s: %v", s.name, flow, o)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%.0f ms\t%s\t%s\t%v\n", s.name, flow, result, login, o.MS, iss, atHash, o.ExpiresIn)
			}
		})
	}
	tw.Flush()
	t.Log("\n" + table.String())
}
