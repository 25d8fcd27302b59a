package checksession

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// TabCoordinator is optionally implemented by a Browser whose tabs of one
// origin can elect one renewer between them (Web Locks) and share what it
// gets (BroadcastChannel). Without it every tab renews on its own.
type TabCoordinator interface {
	// Lead asks for the exclusive lock called name and calls onLead once
	// this tab holds it. The lock is held until release is called or the
	// tab goes away, when the next tab waiting for it becomes the leader.
	Lead(name string, onLead func()) (release func(), err error)
	// Join opens the broadcast channel called name; onMessage receives what
	// other tabs post (never this tab's own posts).
	Join(name string, onMessage func([]byte)) (Channel, error)
}

// Channel is an open broadcast channel.
type Channel interface {
	Post(data []byte) error
	Close()
}

// followerGrace is how long past due a follower waits for the leader's
// result before renewing itself: the leader's tab may be frozen.
const followerGrace = 30 * time.Second

// tabMessage is what the leader tells the other tabs.
type tabMessage struct {
	Kind   string        `json:"kind"` // "renewed" or "session_ended"
	Result *sharedResult `json:"result,omitempty"`
	Error  *sharedError  `json:"error,omitempty"`
}

type sharedResult struct {
	AccessToken    string         `json:"access_token,omitempty"`
	IDToken        string         `json:"id_token,omitempty"`
	IDTokenPayload map[string]any `json:"id_token_payload,omitempty"`
	ExpiresIn      int64          `json:"expires_in,omitempty"`
	ExpiresAtMs    int64          `json:"expires_at_ms,omitempty"`
	TokenType      string         `json:"token_type,omitempty"`
	Scope          string         `json:"scope,omitempty"`
	Audience       string         `json:"audience,omitempty"`
	RequestScope   string         `json:"request_scope"`
}

type sharedError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

// tabKey names the lock and channel: tabs share renewals only when their
// client configuration is the same.
func (s *settings) tabKey() string {
	sum := sha256.Sum256([]byte(s.domain.String() + "\x00" + s.ClientID + "\x00" + s.ResponseType + "\x00" +
		s.Scope + "\x00" + s.Audience + "\x00" + s.RedirectURI))
	return "silentauth:" + base64.RawURLEncoding.EncodeToString(sum[:12])
}

// tabs is this client's membership of its tab group.
type tabs struct {
	coord   TabCoordinator
	channel Channel
	release func()
}

// joinTabs joins the group once a session is known; it is a no-op without a
// coordinator. Called with r.mu held.
func (r *renewer) joinTabsLocked() {
	coord, ok := r.c.browser.(TabCoordinator)
	if !ok || r.tabs != nil {
		return
	}
	key := r.c.s.tabKey()
	t := &tabs{coord: coord}
	ch, err := coord.Join(key, r.fromOtherTab)
	if err != nil {
		r.c.debug("tabs: cannot open the broadcast channel (" + err.Error() + "); this tab renews alone")
		return
	}
	t.channel = ch
	release, err := coord.Lead(key, func() {
		r.mu.Lock()
		r.leader = true
		r.mu.Unlock()
		r.c.debug("tabs: this tab now renews for every tab of this origin")
		r.poke()
	})
	if err != nil {
		ch.Close()
		r.c.debug("tabs: no Web Locks (" + err.Error() + "); this tab renews alone")
		return
	}
	t.release = release
	r.tabs = t
}

// leaveTabs gives up leadership and closes the channel. Called with r.mu held.
func (r *renewer) leaveTabsLocked() {
	if r.tabs == nil {
		return
	}
	r.tabs.release()
	r.tabs.channel.Close()
	r.tabs = nil
	r.leader = false
}

// share tells the other tabs about a result or the end of the session.
func (r *renewer) share(msg tabMessage) {
	r.mu.Lock()
	t := r.tabs
	leader := r.leader
	r.mu.Unlock()
	if t == nil || !leader {
		return
	}
	b, err := json.Marshal(msg)
	if err == nil {
		err = t.channel.Post(b)
	}
	if err != nil {
		r.c.debug("tabs: could not share with the other tabs: " + err.Error())
	}
}

func shareResult(res *AuthResult, audience, scope string) tabMessage {
	var at int64
	if !res.ExpiresAt.IsZero() {
		at = res.ExpiresAt.UnixMilli()
	}
	return tabMessage{Kind: "renewed", Result: &sharedResult{
		AccessToken: res.AccessToken, IDToken: res.IDToken, IDTokenPayload: res.IDTokenPayload,
		ExpiresIn: res.ExpiresIn, ExpiresAtMs: at, TokenType: res.TokenType, Scope: res.Scope,
		Audience: audience, RequestScope: scope,
	}}
}

// fromOtherTab takes the leader's news as if this tab had done the work.
func (r *renewer) fromOtherTab(data []byte) {
	var msg tabMessage
	if err := json.Unmarshal(data, &msg); err != nil {
		r.c.debug("tabs: ignored an unreadable message")
		return
	}
	switch {
	case msg.Kind == "renewed" && msg.Result != nil:
		sr := msg.Result
		res := &AuthResult{AccessToken: sr.AccessToken, IDToken: sr.IDToken, IDTokenPayload: sr.IDTokenPayload,
			ExpiresIn: sr.ExpiresIn, TokenType: sr.TokenType, Scope: sr.Scope}
		if sr.ExpiresAtMs > 0 {
			res.ExpiresAt = time.UnixMilli(sr.ExpiresAtMs)
			res.received = r.c.clock.Now()
			if sr.ExpiresIn > 0 {
				res.received = res.ExpiresAt.Add(-time.Duration(sr.ExpiresIn) * time.Second)
			}
		}
		r.c.storeFor(sr.Audience, sr.RequestScope, res)
		r.c.debug("tabs: received a renewal from the tab that renews")
		r.record(res)
		r.c.emit("renewed", res)
	case msg.Kind == "session_ended" && msg.Error != nil:
		e := &Error{Code: msg.Error.Code, Description: msg.Error.Description}
		r.mu.Lock()
		had := r.session
		r.session = false
		r.dueAt = time.Time{}
		r.mu.Unlock()
		if had {
			r.c.emit("session_ended", e)
		}
	}
}
