package frontdoor_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestDemoPageSignedOutIsNotAnError pins the demo page's first impression:
// before any login, login_required is the normal signed-out state (no red
// error line) with Log in as the primary button; once signed in, Log in is
// gone and Log out is the primary button.
func TestDemoPageSignedOutIsNotAnError(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.Browser.NewTab(t)
	if err := tab.Navigate(env.AppURL + "/"); err != nil {
		t.Fatal(err)
	}
	waitFor := func(cond string) {
		t.Helper()
		e2eenv.MustWaitFor(t, tab, cond, 20*time.Second)
	}
	type view struct {
		LoginHidden, LoginPrimary, LogoutPrimary bool
		Errors                                   []string
		Log                                      string
	}
	look := func() view {
		t.Helper()
		var v view
		tab.MustEval(`({
			LoginHidden: document.getElementById("login").hidden,
			LoginPrimary: document.getElementById("login").classList.contains("primary"),
			LogoutPrimary: document.getElementById("logout").classList.contains("primary"),
			Errors: [...document.querySelectorAll("#log .k-error")].map(k => k.parentElement.innerText),
			Log: document.getElementById("log").innerText,
		})`, &v)
		return v
	}

	waitFor(`document.querySelector("#status").dataset.state === "signed-out" && document.getElementById("log").innerText.includes("login_required")`)
	v := look()
	if len(v.Errors) != 0 {
		t.Errorf("signed out before any login, the log shows errors: %q", v.Errors)
	}
	if v.LoginHidden || !v.LoginPrimary || v.LogoutPrimary {
		t.Errorf("signed out: want Log in shown and primary, Log out not primary; got %+v", v)
	}

	tab.MustEval(`document.getElementById("login").click(), true`, nil)
	logIn(t, env.AppURL, tab)
	waitFor(`document.querySelector("#status").dataset.state === "signed-in"`)
	v = look()
	if !v.LoginHidden || v.LoginPrimary || !v.LogoutPrimary {
		t.Errorf("signed in: want Log in hidden and Log out primary; got %+v", v)
	}
}
