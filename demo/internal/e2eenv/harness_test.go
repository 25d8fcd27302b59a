package e2eenv

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestMainSetUpFatalEndsTheSetUpAndKeepsItsMessage(t *testing.T) {
	tb := &mainTB{}
	cleaned := false
	ok := tb.setUp(func(tb testing.TB) {
		tb.Cleanup(func() { cleaned = true })
		tb.Fatalf("no %s", "provider")
		t.Error("setup went on after Fatalf")
	})
	if ok || tb.fatal != "no provider" {
		t.Errorf("setUp = %v with message %q, want false with %q", ok, tb.fatal, "no provider")
	}
	if cleaned || len(tb.cleanups) != 1 {
		t.Errorf("cleanups ran during setup (%v) or were not kept (%d)", cleaned, len(tb.cleanups))
	}
}

func TestMainSetUpReportsAPanicAsItsMessage(t *testing.T) {
	tb := &mainTB{}
	if ok := tb.setUp(func(tb testing.TB) { tb.Skip("not in TestMain") }); ok || tb.fatal == "" {
		t.Errorf("setUp = %v with message %q: a method mainTB lacks must fail the setup", ok, tb.fatal)
	}
}

// TestRecorderCountsWhatReachedTheServer drives a Recorder with the
// requests of one renewal of each kind and a refused refresh grant.
func TestRecorderCountsWhatReachedTheServer(t *testing.T) {
	rec := &Recorder{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" {
			w.WriteHeader(http.StatusFound)
			return
		}
		_ = r.ParseForm()
		if r.Form.Get("refresh_token") == "stale" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"at","refresh_token":"rt2","token_type":"DPoP"}`))
	})}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) {
		res, err := noRedirect.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	grant := func(form url.Values) {
		res, err := http.Post(srv.URL+"/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	get("/authorize?prompt=none&dpop_jkt=k1")
	mark := rec.Mark()
	get("/auth")
	grant(url.Values{"grant_type": {"authorization_code"}, "code": {"c"}})
	grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt1"}})
	grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"stale"}})

	if got, want := Count(rec.Since(0)), (Counts{Authorize: 2, PromptNone: 1, RefreshGrants: 2, Refused: 1, InvalidGrant: 1, CodeExchanges: 1}); got != want {
		t.Errorf("Count = %v, want %v", got, want)
	}
	if got := rec.CountSince(mark); got.PromptNone != 0 || got.Authorize != 1 {
		t.Errorf("CountSince(mark) = %v, want only what came after the mark", got)
	}
	hits := rec.Since(0)
	if h := hits[0]; h.DPoPJKT != "k1" || h.Status != http.StatusFound {
		t.Errorf("the authorization request was recorded as %+v", h)
	}
	if h := hits[3]; h.RefreshIn != "rt1" || h.RefreshOut != "rt2" || h.Access != "at" || h.TokenType != "DPoP" || h.Status != http.StatusOK {
		t.Errorf("the refresh grant was recorded as %+v", h)
	}
	if h := hits[4]; h.Error != "invalid_grant" || h.Status != http.StatusBadRequest {
		t.Errorf("the refused grant was recorded as %+v", h)
	}
}
