// Package testutil is the tests' toolkit, shared by every package of the
// module (core, ebitenreactor, the examples): leak checks for goroutines
// and descriptors, a log buffer safe for concurrent writers, and the
// calling goroutine's id. Only tests import it.
package testutil

import (
	"bytes"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadedselect/reactor/internal/goid"
	"go.uber.org/goleak"
)

// OpenFds returns this process's open descriptors and what each names,
// from /proc/self/fd; ok is false where there is no /proc.
func OpenFds() (fds map[string]string, ok bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	fds = make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds[e.Name()] = target
	}
	return fds, true
}

// NewFds lists, sorted, the descriptors of after that are not in before
// (or name something else now), as "fd->target".
func NewFds(before, after map[string]string) []string {
	var out []string
	for fd, target := range after {
		if before[fd] != target {
			out = append(out, fd+"->"+target)
		}
	}
	sort.Strings(out)
	return out
}

// CheckLeaks fails t when it ends, unless it failed already, if it left
// goroutines behind (goleak, ignoring those running when CheckLeaks was
// called) or descriptors (see CheckFds).
func CheckLeaks(t testing.TB) {
	t.Helper()
	opts := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if !t.Failed() {
			goleak.VerifyNone(t, opts)
		}
	})
	CheckFds(t)
}

// CheckFds fails t when it ends, unless it failed already, if more
// descriptors are open than when CheckFds was called. A descriptor closed
// by a goroutine that is still finishing gets five seconds to go. It checks
// nothing where there is no /proc.
func CheckFds(t testing.TB) {
	t.Helper()
	before, haveFds := OpenFds()
	t.Cleanup(func() {
		if t.Failed() || !haveFds {
			return
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			after, _ := OpenFds()
			if len(after) <= len(before) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("descriptors leaked: %d open before, %d after: %s", len(before), len(after), strings.Join(NewFds(before, after), " "))
				return
			}
			time.Sleep(time.Millisecond) // polling for the leak check to settle, not waiting for a result
		}
	})
}

// Goid returns the calling goroutine's id.
func Goid() uint64 { return goid.Read(nil) }

// LockedBuffer collects what any goroutine writes (a logger's output):
// safe for concurrent use, with a way to wait for the next write.
type LockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Changed returns a channel closed at the next write.
func (l *LockedBuffer) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// First returns the first complete line that contains every one of
// substrs.
func (l *LockedBuffer) First(substrs ...string) (string, bool) {
	if lines := l.Lines(substrs...); len(lines) > 0 {
		return lines[0], true
	}
	return "", false
}

// Wait waits up to timeout for a complete line that contains every one of
// substrs and returns it; t fails (Fatal) if none comes, with the end of
// what was written.
func (l *LockedBuffer) Wait(t testing.TB, timeout time.Duration, substrs ...string) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ch := l.Changed()
		if line, ok := l.First(substrs...); ok {
			return line
		}
		select {
		case <-ch:
		case <-deadline.C:
			s := l.String()
			if len(s) > 8000 {
				s = "..." + s[len(s)-8000:]
			}
			t.Fatalf("no log line with %q within %v; log:\n%s", substrs, timeout, s)
		}
	}
}

// Lines returns the complete lines that contain every one of substrs.
func (l *LockedBuffer) Lines(substrs ...string) []string {
	var out []string
	s := l.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	} else {
		s = ""
	}
	for _, line := range strings.Split(s, "\n") {
		if line != "" && containsAll(line, substrs) {
			out = append(out, line)
		}
	}
	return out
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
