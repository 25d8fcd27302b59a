package bench

import (
	"fmt"
	"strings"
)

// table renders the report as make bench prints it.
func table(r Report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\nsilentauth make bench — %s\n%s; %s; %s\n", r.Date, r.Machine, r.Go, r.Chromium)

	p("\n1. Silent renewal latency, ms (sequential, interleaved, after one login)\n")
	p("%-22s %5s %8s %8s %8s %8s\n", "contender", "n", "median", "p95", "mean", "max")
	for _, name := range contenders {
		d := r.Latency[name]
		p("%-22s %5d %8.2f %8.2f %8.2f %8.2f\n", name, d.N, d.Median, d.P95, d.Mean, d.Max)
	}
	p("  floor-implicit: iframe + web_message, id_token token, nothing validated\n")
	p("  floor-code: iframe + web_message (code, PKCE) + token request, nothing validated\n")
	p("  auth0-spa-js: getTokenSilently({cacheMode:\"off\"}), code flow\n")
	for _, k := range []string{"silentauth-implicit/floor-implicit", "silentauth-code/floor-code",
		"silentauth-code/auth0-spa-js", "silentauth-implicit/auth0-spa-js", "auth0-spa-js/floor-code"} {
		p("  median ratio %-36s %.2f×\n", k, r.LatencyRatios[k])
	}

	p("\n1b. Where a renewal's time goes, median ms per step (marks seen by the page)\n")
	for _, name := range []string{"floor-code", "silentauth-code", "auth0-spa-js", "silentauth-implicit"} {
		var steps []string
		for _, s := range r.Phases[name] {
			steps = append(steps, fmt.Sprintf("%s %.1f", s.Step, s.Median))
		}
		p("  %-20s %s\n", name, strings.Join(steps, " | "))
	}
	p("  message → token_request: the SDK's work on the code (state checks; PKCE is ready before); token_response → resolved:\n")
	p("  reading the body and, for silentauth, verifying the ID token (signature, claims) and bookkeeping; auth0-spa-js checks claims only\n")

	p("\n2. Time to ready, ms from the first script (fresh loads, HTTP cache disabled)\n")
	p("%-12s %3s %17s %17s %17s %17s\n", "sdk", "n", "script med/p95", "ready med/p95", "1st token med/p95", "nav→ready med")
	for _, sdk := range []string{"silentauth", "auth0"} {
		x := r.Ready[sdk]
		p("%-12s %3d %8.1f/%-8.1f %8.1f/%-8.1f %8.1f/%-8.1f %8.1f\n", sdk, x.Ready.N,
			x.Script.Median, x.Script.P95, x.Ready.Median, x.Ready.P95, x.Token.Median, x.Token.P95, x.Nav.Median)
	}
	if a, s := r.Ready["auth0"].Ready.Median, r.Ready["silentauth"].Ready.Median; a > 0 {
		p("  ready median ratio silentauth/auth0-spa-js %.1f×\n", s/a)
	}

	p("\n3. Size, bytes (gzip -9 and brotli q11 lgwin24 by node zlib)\n")
	p("%-24s %10s %10s %10s  %s\n", "file", "raw", "gzip -9", "brotli", "note")
	var floorBr, saBr int
	for _, s := range r.Sizes {
		if s.Raw == 0 {
			p("%-24s %10s %10s %10s  %s\n", s.Name, "-", "-", "-", s.Note)
			continue
		}
		p("%-24s %10d %10d %10d  %s\n", s.Name, s.Raw, s.Gzip9, s.Brotli, s.Note)
		switch s.Name {
		case "dependency floor":
			floorBr = s.Brotli
		case "silentauth.wasm":
			saBr = s.Brotli
		}
	}
	if floorBr > 0 {
		p("  silentauth.wasm brotli is %+.1f %% over the dependency floor (target: within 6 %%)\n",
			100*(float64(saBr)/float64(floorBr)-1))
	}

	p("\n4. ID-token validation\n")
	for _, h := range r.HostVerify {
		p("  host %-24s %10.0f ns/op %7d B/op %5d allocs/op  (%.0f ops/s)\n", h.Name, h.NsPerOp, h.BytesPerOp, h.AllocsPerOp, 1e9/h.NsPerOp)
	}
	v := r.BrowserVerify
	p("  browser RS256, n=%d: silentauth (wasm, per JS call) %.0f ops/s; silentauth (loop in Go) %.0f ops/s; jose (WebCrypto) %.0f ops/s; silentauth/jose %.2f×\n",
		v.N, v.GoPerCall, v.GoLoop, v.Jose, v.RatioToJos)

	p("\n5. Memory after the 1st renewal and after %d (after a forced GC)\n", firstRenewals(r))
	p("%-22s %12s %12s %12s %12s %12s\n", "contender", "JS heap 1", "JS heap N", "Δ heap", "wasm mem 1", "wasm mem N")
	for _, name := range memoryContenders {
		m := r.Memory[name]
		p("%-22s %12.0f %12.0f %+12.0f %12.0f %12.0f\n", name, m.HeapAfter1, m.HeapAfterN, m.HeapAfterN-m.HeapAfter1, m.WasmAfter1, m.WasmAfterN)
	}
	p("  (wasm memory is silentauth's runtime; 0 where the page never started it)\n")

	p("\n6. CPU profile of %d silentauth-implicit renewals (%.0f ms wall), self time\n", r.Profile.Renewals, r.Profile.WallMs)
	for _, c := range r.Profile.Categories {
		p("  %8.1f ms  %s\n", c.Ms, c.Name)
	}
	p("  top Go functions:\n")
	for _, c := range r.Profile.TopGo {
		p("  %8.1f ms  %s\n", c.Ms, c.Name)
	}
	return b.String()
}

func firstRenewals(r Report) int {
	for _, m := range r.Memory {
		return m.Renewals
	}
	return 0
}
