package testutil

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestLockedBufferLinesAndChanged(t *testing.T) {
	var b LockedBuffer
	changed := b.Changed()
	fmt.Fprintf(&b, "level=INFO msg=join id=1\nlevel=WARN msg=leave id=1\nlevel=INFO msg=part")
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by a write")
	}
	if got := b.Lines("msg=", "id=1"); len(got) != 2 {
		t.Fatalf("lines %q, want the two complete ones with id=1", got)
	}
	if got := b.Lines("msg=part"); len(got) != 0 {
		t.Fatalf("an incomplete line was returned: %q", got)
	}
	go fmt.Fprintf(&b, "\n")
	if got := b.Wait(t, 10*time.Second, "msg=part"); got != "level=INFO msg=part" {
		t.Fatalf("Wait returned %q", got)
	}
	if got, ok := b.First("level=INFO"); !ok || got != "level=INFO msg=join id=1" {
		t.Fatalf("First returned %q, %v", got, ok)
	}
}

func TestNewFds(t *testing.T) {
	before, ok := OpenFds()
	if !ok {
		t.Skip("no /proc/self/fd")
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	fd := f.Fd()
	after, _ := OpenFds()
	f.Close()
	if got := NewFds(before, after); len(got) != 1 || got[0] != fmt.Sprintf("%d->%s", fd, os.DevNull) {
		t.Fatalf("new descriptors %q", got)
	}
}

func TestGoid(t *testing.T) {
	mine := Goid()
	other := make(chan uint64)
	go func() { other <- Goid() }()
	if o := <-other; mine == 0 || o == 0 || o == mine {
		t.Fatalf("ids %d and %d", mine, o)
	}
}
