//go:build linux

package poller

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEventfdWakeAddsOne: each wake adds exactly one to the eventfd's
// counter, read in the host's byte order. Writing the bytes {1,0,...,0}
// adds 2^56 on a big-endian machine, and the counter saturates after 255
// wakes; 300 wakes would then fail here.
func TestEventfdWakeAddsOne(t *testing.T) {
	w, err := newWakeup()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	const n = 300
	for i := 0; i < n; i++ {
		w.PrepareSleep()
		w.Wake()
	}
	var buf [8]byte
	if _, err := unix.Read(w.r, buf[:]); err != nil {
		t.Fatal(err)
	}
	if got := binary.NativeEndian.Uint64(buf[:]); got != n {
		t.Fatalf("counter %d after %d wakes", got, n)
	}
}
