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

// signedInMarker reads and writes this configuration's marker.
type signedInMarker struct {
	browser platform.Browser // its localStorage, where it has one
	key     string
	clock   platform.Clock
	log     logger
}

func (m signedInMarker) storage() platform.Storage {
	ls, ok := m.browser.(platform.LocalStorage)
	if !ok {
		return nil
	}
	return ls.LocalStorage()
}

// mark records a successful login or renewal. A full or disabled storage
// only costs the explanation and the loader's shortcut.
func (m signedInMarker) mark() {
	if st := m.storage(); st != nil {
		if err := st.Set(m.key, strconv.FormatInt(m.clock.Now().UnixMilli(), 10)); err != nil {
			m.log.debug("the signed-in marker could not be written: " + err.Error())
		}
	}
}

// clear records a logout or the end of the session.
func (m signedInMarker) clear() {
	if st := m.storage(); st != nil {
		st.Remove(m.key)
	}
}

// signedInAt is the time of the last login or renewal the marker records,
// and whether there is one.
func (m signedInMarker) signedInAt() (time.Time, bool) {
	st := m.storage()
	if st == nil {
		return time.Time{}, false
	}
	v, ok := st.Get(m.key)
	if !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, true // someone else's format: still a sign-in
	}
	return time.UnixMilli(ms).UTC(), true
}
