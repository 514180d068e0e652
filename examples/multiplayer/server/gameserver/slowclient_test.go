//go:build unix

package gameserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/session"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// joinDeaf joins as name over a raw TCP connection with a small receive
// buffer, reads the welcome, and from then on reads nothing; it returns
// the connection (closed at the end of the test) and the player's id.
func joinDeaf(h *harness, t *testing.T, name string) (*net.TCPConn, uint16) {
	addr := h.s.Addr().String()
	t.Helper()
	d := net.Dialer{Timeout: watchdog, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1) // the kernel's minimum
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hello := session.RawMessage{Kind: session.RawHello, App: game.App, Data: []byte(name)}.Append(nil)
	if _, err := c.Write(framing.Append(nil, hello)); err != nil {
		t.Fatal(err)
	}
	// The welcome is the first frame; nothing else is read.
	h.until(name+" joined", func() bool { return h.s.names[nameKey(name)] != nil })
	_ = c.SetReadDeadline(time.Now().Add(watchdog))
	br := bufio.NewReaderSize(c, 16)
	n, err := binary.ReadUvarint(br)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	m, err := session.ParseRaw(p)
	if err != nil || m.Kind != session.RawWelcome {
		t.Fatalf("answer to the hello: %+v %v", m, err)
	}
	return c.(*net.TCPConn), uint16(m.ID)
}

// A player that does not read what it is sent: once its unsent data (the
// server's queue and the kernel's) is above SlowClientQueue its TCP
// snapshots are skipped, and after SlowClientTimeout it is kicked with
// reason=slow; the players who read are not affected.
func TestSlowClient(t *testing.T) {
	h := newHarness(t, Config{TickRate: 60, SlowClientQueue: 1000, SlowClientTimeout: 500 * time.Millisecond, DisableUDP: true})
	var readers []*client
	const nReaders = 40
	for i := range nReaders { // bigger snapshots: the deaf player's buffers fill sooner
		readers = append(readers, h.dial(fmt.Sprintf("r%02d", i), nil))
	}
	_, id := joinDeaf(h, t, "deaf")
	h.until("everybody joined", func() bool { return h.s.world.Len() == nReaders+1 })
	for _, r := range readers {
		h.until(r.name+" welcomed", func() bool { return r.c.State().Status == session.Connected })
	}
	start := h.clock.Now()
	for i := 0; i < 600; i++ {
		if _, in := h.s.world.Player(id); !in {
			break
		}
		h.tick(readers...) // the readers read each tick's snapshot before the next
	}
	if _, in := h.s.world.Player(id); in {
		t.Fatalf("the deaf player is still in the world after %v; stats %+v", h.clock.Now().Sub(start), h.s.Stats())
	}
	took := h.clock.Now().Sub(start)
	// The ping check would have dropped it (session.ErrNotReading) only
	// after SlowClientTimeout + 1 s from a ping at 1 s.
	if took >= 2*time.Second {
		t.Fatalf("dropped after %v: not by the unsent-data bound", took)
	}
	st := h.s.Stats()
	if st.SlowDrops != 1 || st.SnapshotsSkipped == 0 || st.Players != nReaders {
		t.Fatalf("stats %+v", st)
	}
	if n := len(h.logs.Lines("msg=leave", "name=deaf", "reason=slow", "level=WARN", "detail=")); n != 1 {
		t.Fatalf("%d slow leave lines:\n%s", n, h.logs)
	}
	for _, r := range readers {
		if r.c.State().Status != session.Connected || !r.inWorld() {
			t.Fatalf("%s was affected: %+v", r.name, r.c.State())
		}
	}
}
