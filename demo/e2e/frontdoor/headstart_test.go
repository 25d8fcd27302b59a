package frontdoor_test

import (
	"strings"
	"testing"
	"time"
)

// TestHeadStartInTheSharedWorker: for a visitor the marker says signed in,
// the page opens the first silent request's iframe while a new worker's
// engine boots, and the engine adopts it (its debug line says so) instead
// of sending a request of its own: one prompt=none request for the first
// token, and no iframe left.
func TestHeadStartInTheSharedWorker(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	e.engine = `, engine: "shared-worker"`
	e.signIn(t, "")

	// Another wasm URL names another worker: one whose engine has not
	// started, as on a visit after every tab was closed.
	fresh := e.openSDKPage(t)
	silent0, _, _ := e.counts()
	var got struct {
		Token   bool `json:"token"`
		Marker  bool `json:"marker"`
		Runtime bool `json:"runtime"`
	}
	fresh.MustEval(`(async () => {
		const marker = `+markerJS+`;
		window.client = await `+e.clientJS(`, wasmUrl: "/silentauth/silentauth.wasm?worker=fresh"`)+`;
		const r = await client.checkSession();
		return {token: !!r.accessToken, marker, runtime: !!globalThis[Symbol.for("silentauth.runtime")]};
	})()`, &got)
	if !got.Token || !got.Marker || got.Runtime {
		t.Fatalf("checkSession %+v; want a token from the worker's engine for a visitor with a marker", got)
	}
	if silent, _, _ := e.counts(); silent != silent0+1 {
		t.Errorf("%d prompt=none requests for the first token, want 1 (the head start's, adopted)", silent-silent0)
	}
	adopted := false
	for _, l := range fresh.Console() {
		if strings.Contains(l, "adopted the prestarted silent request") {
			adopted = true
		}
	}
	if !adopted {
		t.Errorf("no debug line says the engine adopted the head start\nconsole:\n%s", strings.Join(fresh.Console(), "\n"))
	}
	if err := fresh.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
		t.Errorf("the head start's iframe stayed: %v", err)
	}
}
