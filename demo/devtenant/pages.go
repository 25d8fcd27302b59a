package devtenant

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
)

// pageData feeds every HTML page of the tenant; each page uses what it needs.
type pageData struct {
	Title  string
	Lines  []string
	Error  string
	State  string // transaction id carried by the forms
	CSRF   string // the browser's form token (csrfCookie)
	Action string
	Client string
	Email  string
	Scopes []string
	Users  []User
	Form   string // which form to show: login, mfa, consent, rule
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;background:#f3f4f7;color:#1d2330;margin:0;padding:40px 16px}
main{max-width:420px;margin:auto;background:#fff;border-radius:10px;box-shadow:0 2px 10px #0002;padding:28px}
.dev{background:#fff3cd;border:1px solid #e6c65c;border-radius:6px;padding:6px 10px;font-size:13px;margin-bottom:16px}
h1{font-size:20px;margin:0 0 12px}.err{color:#b00020}label{display:block;margin:10px 0 4px;font-weight:600}
input[type=text],input[type=email],input[type=password]{width:100%;box-sizing:border-box;padding:8px;border:1px solid #bbb;border-radius:6px;font:inherit}
button{margin-top:16px;padding:9px 16px;border:0;border-radius:6px;background:#3451d1;color:#fff;font:inherit;cursor:pointer}
button.secondary{background:#777}table{border-collapse:collapse;font-size:13px;margin-top:16px;width:100%}td{padding:2px 6px;border-top:1px solid #eee}
code{font-family:ui-monospace,monospace}
</style></head><body><main>
<div class="dev">DEVELOPMENT SERVER: in-memory, demo passwords shown below. Localhost only.</div>
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>{{end}}
{{if .Error}}<p class="err" id="error">{{.Error}}</p>{{end}}
{{if eq .Form "login"}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="username">Email</label><input type="email" id="username" name="username" value="{{.Email}}" autocomplete="username" required autofocus>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit" id="submit">Continue</button>
</form>
<table><tr><td colspan="3"><b>Demo users</b></td></tr>
{{range .Users}}<tr><td><code>{{.Email}}</code></td><td>password <code>{{.Password}}</code></td><td>{{.Name}}</td></tr>{{end}}
</table>
{{else if eq .Form "mfa"}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="otp">One-time code for {{.Email}} (the demo code is <code>123456</code>)</label>
<input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" required autofocus>
<button type="submit" id="submit">Verify</button>
</form>
{{else if eq .Form "consent"}}
<p><b>{{.Client}}</b> is requesting access to your account ({{.Email}}):</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" name="decision" value="accept" id="accept">Accept</button>
<button type="submit" name="decision" value="deny" id="deny" class="secondary">Decline</button>
</form>
{{else if eq .Form "rule"}}
<p>A redirect rule sent {{.Email}} here before the login can finish. Silent requests (prompt=none) answer <code>interaction_required</code> at this point.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" id="continue">Continue</button>
</form>
{{end}}
</main></body></html>`))

// renderPage writes an interactive page; framing is refused since nothing here belongs in an iframe.
func renderPage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	// No form-action: Chrome applies it to the redirect that follows the
	// POST, and the login form's answer is a redirect to the application.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, d)
}

// webMessageScript posts the authorization response to the window that
// opened or framed this page. It follows the shape of Auth0's template
// (simple mode, plus the relay branch of the WMRM draft, which stays idle
// because webMessageRequest is always empty here).
const webMessageScript = `(function (win) {
  var targetOrigin = %s;
  var webMessageRequest = {};
  var authorizationResponse = {type: "authorization_response", response: %s};
  var mainWin = win.opener || win.parent;
  var relayUri = webMessageRequest["web_message_uri"];
  var relayTarget = webMessageRequest["web_message_target"];
  if (relayUri && relayTarget) {
    win.addEventListener("message", function (evt) {
      if (evt.origin !== targetOrigin || !evt.data || evt.data.type !== "relay_response") return;
      var target = evt.source.frames[relayTarget];
      if (target) {
        target.postMessage(authorizationResponse, relayUri);
        win.close();
      }
    });
    mainWin.postMessage({type: "relay_request"}, targetOrigin);
  } else {
    mainWin.postMessage(authorizationResponse, targetOrigin);
  }
})(window);`

// writeWebMessage renders the page that delivers resp to targetOrigin.
func writeWebMessage(w http.ResponseWriter, targetOrigin string, resp map[string]any) {
	script := fmt.Sprintf(webMessageScript, scriptJSON(targetOrigin), scriptJSON(resp))
	sum := sha256.Sum256([]byte(script))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	// Only this exact inline script may run; the page must stay frameable, so no frame-ancestors.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Authorization Response</title></head>\n<body><script>" + script + "</script></body></html>\n"))
}

// writeSilentPage renders a page that runs no script at all: the SDK can only time out on it.
func writeSilentPage(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = silentTmpl.Execute(w, struct{ Title, Text string }{title, text})
}

var silentTmpl = template.Must(template.New("silent").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// scriptJSON encodes v for a <script> element: encoding/json already turns
// < > & U+2028 U+2029 into \u escapes, so the data can neither close the
// element nor break a JavaScript string literal.
func scriptJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
