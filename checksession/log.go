package checksession

// LogLevel is how much a line sent to Options.Logger matters.
type LogLevel int

const (
	// LogDebug lines are sent only when Options.Debug is set.
	LogDebug LogLevel = iota
	// LogWarn lines are always sent: a configuration that works but will
	// hurt (a session poll under a minute).
	LogWarn
)

func (l LogLevel) String() string {
	if l == LogWarn {
		return "warn"
	}
	return "debug"
}
