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

// logger sends lines to Options.Logger, debug lines only when Options.Debug
// is set.
type logger struct {
	debugOn bool
	out     func(level LogLevel, line string) // nil: no logger given
}

func newLogger(s *settings) logger {
	return logger{debugOn: s.Debug && s.Logger != nil, out: s.Logger}
}

func (l logger) debug(msg string) {
	if l.debugOn {
		l.out(LogDebug, msg)
	}
}

// debugging guards a debug message that costs work to build: formatting a
// time, for one, runs code the first token would otherwise never compile.
func (l logger) debugging() bool { return l.debugOn }

// warn is logged whether or not debug is on.
func (l logger) warn(msg string) {
	if l.out != nil {
		l.out(LogWarn, msg)
	}
}

// panicked turns a recovered panic into an error that says where it
// happened: one bad input must fail its request, not the Go runtime that
// every client on the page shares.
func (l logger) panicked(where string, p any) error {
	e := panicError(where, p)
	l.warn(e.Description)
	return e
}

// recoverTo is deferred by goroutines that have no caller to fail.
func (l logger) recoverTo(where string) {
	if p := recover(); p != nil {
		_ = l.panicked(where, p)
	}
}
