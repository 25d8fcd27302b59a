package checksession

import (
	"strconv"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// The signed-in marker says that this browser signed in with one
// configuration (server and client) and has not signed out since: a flag
// and the time of the last login or renewal, no secret. It lives where
// every tab of the origin sees it and a reload keeps it (localStorage). It
// turns a login_required after a reload into an explanation (blocked
// third-party cookies), and lets the JS loader answer an anonymous
// visitor's checkSession without asking the server (assumeSignedOut).

// markerPrefix starts the localStorage key of every signed-in marker.
const markerPrefix = platform.MarkerPrefix

// markerKey is the marker's key for one configuration: the client and the
// server's base URL as validation normalised it.
func (s *settings) markerKey() string {
	if s.MarkerKey != "" {
		return s.MarkerKey
	}
	return markerPrefix + s.ClientID + "@" + s.domain.String()
}

func (c *Client) markerStorage() platform.Storage {
	ls, ok := c.browser.(platform.LocalStorage)
	if !ok {
		return nil
	}
	return ls.LocalStorage()
}

// markSignedIn records a successful login or renewal. A full or disabled
// storage only costs the explanation and the loader's shortcut.
func (c *Client) markSignedIn() {
	if st := c.markerStorage(); st != nil {
		if err := st.Set(c.s.markerKey(), strconv.FormatInt(c.clock.Now().UnixMilli(), 10)); err != nil {
			c.log.debug("the signed-in marker could not be written: " + err.Error())
		}
	}
}

// clearSignedIn records a logout or the end of the session.
func (c *Client) clearSignedIn() {
	if st := c.markerStorage(); st != nil {
		st.Remove(c.s.markerKey())
	}
}

// signedInAt is the time of the last login or renewal the marker records,
// and whether there is one.
func (c *Client) signedInAt() (time.Time, bool) {
	st := c.markerStorage()
	if st == nil {
		return time.Time{}, false
	}
	v, ok := st.Get(c.s.markerKey())
	if !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, true // someone else's format: still a sign-in
	}
	return time.UnixMilli(ms).UTC(), true
}
