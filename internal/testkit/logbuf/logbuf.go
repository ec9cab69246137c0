// Package logbuf is the test kit's log capture: a goroutine-safe buffer and a
// debug-level slog logger writing to it. It imports nothing of Latchkey, so
// that unit tests (the outbox worker's, httpx's) can check what was logged
// without booting a server.
package logbuf

import (
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Buffer collects log output; the zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write implements io.Writer.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a text logger of every level, debug included, that writes
// to the buffer and to each of also.
func (l *Buffer) Logger(also ...io.Writer) *slog.Logger {
	var w io.Writer = l
	if len(also) > 0 {
		w = io.MultiWriter(append([]io.Writer{l}, also...)...)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
