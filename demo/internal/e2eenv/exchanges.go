package e2eenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// CodeExchanges notes the access token of each authorization_code grant a
// token endpoint answers, in order, so that a test can tell which code
// exchange the token a page got came from.
type CodeExchanges struct {
	mu     sync.Mutex
	tokens []string
}

// Wrap serves next, noting the access token of each code exchange it
// answers; every other request passes through untouched.
func (x *CodeExchanges) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !strings.Contains(string(body), "grant_type=authorization_code") {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		var answer struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(tw.buf.Bytes(), &answer)
		x.mu.Lock()
		x.tokens = append(x.tokens, answer.AccessToken)
		x.mu.Unlock()
	})
}

// Tokens is the access tokens of the code exchanges so far.
func (x *CodeExchanges) Tokens() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.tokens...)
}

// teeWriter keeps a copy of what it writes.
type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}
