package checksession

import (
	"testing"
	"unicode/utf8"

	"github.com/silentauth/silentauth/checksession/platform"
)

// FuzzAcceptMessage feeds arbitrary message data to the acceptance rules:
// anything may arrive in a message, and nothing may panic or be accepted
// without the right state.
func FuzzAcceptMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"authorization_response","response":{"code":"c","state":"s"}}`,
		`{"type":"authorization_response","response":{"access_token":"a","id_token":"x.y.z","expires_in":"3600","state":"s"}}`,
		`{"type":"authorization_response","response":{"error":"login_required","state":"s"}}`,
		`{"type":"authorization_response","response":{"expires_in":1e400,"state":"s"}}`,
		`{"type":"authorization_response","response":{"expires_in":-1,"state":"s"}}`,
		`{"type":"authorization_response","response":null}`,
		`{"type":"authorization_response","response":[1,2]}`,
		`{"type":["authorization_response"]}`,
		`"authorization_response"`,
		`null`, `[]`, `{`, ``, `{"type":"authorization_response","response":{"state":{"x":1}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, why := acceptMessage(platform.Message{Origin: serverOrigin, FromFrame: true, Data: data}, serverOrigin, "s")
		if resp == nil && why == "" {
			t.Fatal("neither accepted nor explained")
		}
		if resp != nil && resp.State != "s" {
			t.Fatalf("accepted state %q", resp.State)
		}
		if !utf8.ValidString(why) && resp == nil {
			// The reason goes to the console; it must be printable.
			t.Fatalf("reason is not UTF-8: %q", why)
		}
	})
}
