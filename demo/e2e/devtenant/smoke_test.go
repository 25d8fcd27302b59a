package devtenant_test

import (
	"testing"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

func TestSmokeLoginThenCheckSession(t *testing.T) {
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)
	var before map[string]any
	tab.MustEval(`(async () => { const c = await `+env.ClientJS("")+`; try { await c.checkSession(); return {ok:true} } catch (e) { return {error: e.error, d: e.error_description} } })()`, &before)
	if before["error"] != "login_required" {
		t.Fatalf("before login: %v", before)
	}
	env.Login(t, tab, "demo@example.com", "")
	var res map[string]any
	tab.MustEval(`client.checkSession().then(r => ({at: !!r.accessToken, email: r.idTokenPayload.email, frames: document.querySelectorAll("iframe").length}))`, &res)
	t.Logf("%v", res)
	if res["email"] != "demo@example.com" {
		t.Fatalf("after login: %v", res)
	}
}

func TestStatsReportTheRuntime(t *testing.T) {
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)
	var s map[string]any
	tab.MustEval(`(async () => { await `+env.ClientJS("")+`; return silentauth.stats() })()`, &s)
	if s["running"] != true || s["wasmMemoryBytes"].(float64) < 1<<20 || s["liveFrames"].(float64) != 0 {
		t.Fatalf("stats %v", s)
	}
}
