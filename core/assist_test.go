//go:build unix

package core

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// A goroutine-backed connection's reader writes the main thread's answer
// itself when the socket's send buffer takes it (goConn.offer). These
// tests hold it to both halves of that: it happens, and it never blocks
// the reading.

// TestStreamEchoWhilePeerWritesFirst: the peer writes 8 MiB before it
// reads a byte, over small socket buffers, and the reactor echoes every
// read. The reactor must go on reading while its echoes wait for the peer
// (they queue, within WithMaxQueued); a reader that wrote an echo itself
// into a full send buffer would block there, stop reading, and the peer's
// writes, then the peer, would wait for ever. On every kind, backend and
// driver.
func TestStreamEchoWhilePeerWritesFirst(t *testing.T) {
	const total = 8 << 20
	payload := make([]byte, total)
	fillRandom(payload, 41)
	forEachKind(t, func(t *testing.T, h *harness, k connKind) {
		r := h.newReactor()
		deadline := time.Now().Add(30 * time.Second)
		var lost error
		lostN := 0
		var peerErr error
		var echoed []byte
		peerDone, err := k.open(r, connLink{
			Dial:     true,
			RcvBuf:   16 << 10,
			Deadline: deadline,
			Opts:     []ListenOption{WithSendBuffer(16 << 10)},
			Build: func(net.Addr) (Protocol, error) {
				p := &protoFuncs{}
				p.data = func(b []byte) {
					if _, err := p.t.Write(b); err != nil {
						t.Errorf("Write: %v", err)
					}
				}
				p.lost = func(err error) { lost = err; lostN++; _ = r.Stop() }
				return p, nil
			},
			Failed: func(err error) { t.Errorf("ConnectionFailed: %v", err); _ = r.Stop() },
			Peer: func(c net.Conn, err error) {
				if err != nil {
					peerErr = err
					return
				}
				defer c.Close()
				_ = c.SetDeadline(deadline)
				if tc := tcpOf(c); tc != nil {
					_ = tc.SetWriteBuffer(16 << 10)
				}
				for off := 0; off < total; off += 64 << 10 {
					if _, err := c.Write(payload[off : off+64<<10]); err != nil {
						peerErr = fmt.Errorf("writing at byte %d: %w", off, err)
						return
					}
				}
				echoed = make([]byte, total)
				if _, err := io.ReadFull(c, echoed); err != nil {
					peerErr = fmt.Errorf("reading the echo: %w", err)
				}
			},
		})
		must(t, err)
		h.runReactor(r)
		<-peerDone
		if peerErr != nil {
			t.Fatalf("peer: %v (the reactor stopped reading while its echo waited?)", peerErr)
		}
		if !bytes.Equal(echoed, payload) {
			t.Fatalf("the echo differs from what was sent")
		}
		if lostN != 1 {
			t.Fatalf("ConnectionLost called %d times, want once (last: %v)", lostN, lost)
		}
	})
}

// runTLSPeer runs a reactor with one TLS server connection whose
// DataReceived is data (it stops the reactor when the connection ends),
// and a Go TLS client that runs peer on its end; it returns the server's
// connection, once Run has returned and the connection's goroutines have
// ended.
func runTLSPeer(t *testing.T, h *harness, cert tls.Certificate, pool *x509.CertPool,
	data func(tr Transport, b []byte), peer func(c net.Conn) error) *goConn {
	t.Helper()
	r := h.newReactor()
	var server *goConn
	port, err := r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}},
		FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) { server, _ = tr.(*goConn) }
			p.data = func(b []byte) { data(p.t, b) }
			p.lost = func(error) { _ = r.Stop() }
			return p, nil
		}))
	must(t, err)
	peerErr := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp", port.Addr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			peerErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		peerErr <- peer(c)
	}()
	h.runReactor(r)
	if err := <-peerErr; err != nil {
		t.Fatalf("peer: %v", err)
	}
	if server == nil {
		t.Fatal("the server's connection is not goroutine-backed")
	}
	return server
}

// TestReaderWritesTheAnswer: in a TLS ping-pong, the reactor's reader,
// not its writer goroutine, writes the echoes, at least now and then
// (most on a quiet machine; the main thread may be late on a busy one),
// where the main thread answers at once (Run, Interleave). If offer never
// took a job, the writer would be woken for every message, which is what
// offer is there to save.
func TestReaderWritesTheAnswer(t *testing.T) {
	if !canTellSendRoom {
		t.Skip("the reader never writes on this platform (no SO_MEMINFO)")
	}
	cert, pool := testCert(t)
	forEach(t, func(t *testing.T, h *harness) {
		const rounds = 1000
		echo := func(tr Transport, b []byte) { _, _ = tr.Write(b) }
		server := runTLSPeer(t, h, cert, pool, echo, func(c net.Conn) error {
			msg, back := make([]byte, 64), make([]byte, 64)
			for i := 0; i < rounds; i++ {
				msg[0] = byte(i)
				if _, err := c.Write(msg); err != nil {
					return err
				}
				if _, err := io.ReadFull(c, back); err != nil {
					return err
				}
				if !bytes.Equal(back, msg) {
					return fmt.Errorf("round %d: the echo differs", i)
				}
			}
			return nil
		})
		// A driver that drains on a frame tick answers a frame later, long
		// after the reader has stopped waiting.
		if server.assisted == 0 && h.drv.name != "drain" {
			t.Fatalf("the reader wrote none of the %d echoes", rounds)
		}
		t.Logf("the reader wrote %d of %d echoes", server.assisted, rounds)
	})
}

// TestReaderOffersLessWhenUnanswered: a peer streams 4 MiB one way into a
// protocol that never answers. The reader, finding no answer after its
// offers, offers less and less often (down to one read in 64), so that a
// one-way stream does not pay the reader's wait on every read.
func TestReaderOffersLessWhenUnanswered(t *testing.T) {
	if !canTellSendRoom {
		t.Skip("the reader never writes on this platform (no SO_MEMINFO)")
	}
	cert, pool := testCert(t)
	forEach(t, func(t *testing.T, h *harness) {
		const total = 4 << 20
		got := 0
		count := func(_ Transport, b []byte) { got += len(b) }
		server := runTLSPeer(t, h, cert, pool, count, func(c net.Conn) error {
			buf := make([]byte, 1<<10)
			for sent := 0; sent < total; sent += len(buf) {
				if _, err := c.Write(buf); err != nil {
					return err
				}
			}
			return nil
		})
		if got != total {
			t.Fatalf("received %d of %d bytes", got, total)
		}
		if server.offers > server.reads/16+8 {
			t.Fatalf("the reader offered to write %d times in %d reads, none answered", server.offers, server.reads)
		}
		t.Logf("%d offers in %d reads", server.offers, server.reads)
	})
}
