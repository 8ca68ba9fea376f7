package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newMemberlistLogger routes memberlist's standard-library log lines, which
// carry their level as a "[DEBUG]"-style prefix, to slog at that level.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

// slogWriter is an io.Writer that turns one log line into one slog record.
type slogWriter struct{ l *slog.Logger }

// levels maps memberlist's prefixes to slog levels.
var levels = []struct {
	prefix string
	level  slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

// Write implements io.Writer.
func (w slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lv := range levels {
		if bytes.HasPrefix(line, []byte(lv.prefix)) {
			level = lv.level
			line = bytes.TrimSpace(line[len(lv.prefix):])
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
