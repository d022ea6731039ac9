package conformance

import (
	"bytes"
	"strings"
	"sync"
)

// maxLogBytes caps what a [logBuffer] keeps.
const maxLogBytes = 4 << 20

// logBuffer is a size-capped, concurrency-safe buffer for the output of a
// process or server, shown when a test fails.
type logBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

// Write appends p, dropping what exceeds maxLogBytes. It never fails.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := maxLogBytes - b.buf.Len()
	if room < len(p) {
		b.truncated = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

// Sync implements zapcore.WriteSyncer.
func (b *logBuffer) Sync() error { return nil }

// String returns the content so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "\n[... output truncated ...]\n"
	}
	return b.buf.String()
}

// Tail returns at most the last n bytes of the content, cut at a line
// start when possible.
func (b *logBuffer) Tail(n int) string {
	s := b.String()
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "[... earlier output omitted ...]\n" + s
}
