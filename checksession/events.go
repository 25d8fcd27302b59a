package checksession

// EventName names a client event: JS's client.on(name). EventNames is the
// same set as silentauth.d.ts's SilentAuthEventMap; a test holds them to it.
type EventName string

// The events a client emits.
const (
	// EventRenewed is every successful silent renewal; Event.Result holds it.
	EventRenewed EventName = "renewed"
	// EventRenewError is a renewal that failed and will be retried; Event.Err.
	EventRenewError EventName = "renew_error"
	// EventSessionEnded means the user must log in interactively: auto-renew
	// and polling stop and the tokens are forgotten; Event.Err says why.
	EventSessionEnded EventName = "session_ended"
)

// EventNames is every event, in the order API.md lists them: a new slice at
// each call, so that no caller can change the list.
func EventNames() []EventName {
	return []EventName{EventRenewed, EventRenewError, EventSessionEnded}
}

// Event is one client event, as Options.OnEvent receives it.
type Event struct {
	Name EventName
	// Result is the new result of EventRenewed.
	Result *AuthResult
	// Err is the failure of EventRenewError and EventSessionEnded.
	Err *Error
}

// Payload is what JS's handler receives: the result or the error.
func (e Event) Payload() any {
	if e.Result != nil {
		return e.Result
	}
	return e.Err
}

// eventSink is Options.OnEvent; nil when none was given.
type eventSink func(Event)

// emit calls OnEvent with payload, an *AuthResult or an *Error, in its field.
func (on eventSink) emit(name EventName, payload any) {
	if on == nil {
		return
	}
	ev := Event{Name: name}
	switch p := payload.(type) {
	case *AuthResult:
		ev.Result = p
	case *Error:
		ev.Err = p
	}
	on(ev)
}
