package ws_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
)

// TestWebSocketMaxMessage: Options.MaxMessage holds both ways. A write
// longer than it leaves as several messages of at most MaxMessage bytes
// that together are the bytes written; a peer's message longer than it
// ends the connection (StatusMessageTooBig), and ConnectionLost says so.
func TestWebSocketMaxMessage(t *testing.T) {
	const max = 1024
	forEachBackend(t, func(t *testing.T, r *core.Reactor) {
		payload := make([]byte, 5*max+100)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		lost := make(chan error, 1)
		srv := httptest.NewServer(ws.Handler(r, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.made = func(tr core.Transport) { tr.Write(payload) }
			p.lost = func(err error) { lost <- err; r.Stop() } // the test ends once the reactor has said why
			return p, nil
		}), &ws.Options{MaxMessage: max}))
		defer srv.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")

		type result struct {
			sizes    []int
			got      []byte
			closeErr error
			err      error
		}
		peer := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				peer <- result{err: err}
				r.CallFromThread(func() { r.Stop() })
				return
			}
			defer c.CloseNow()
			var res result
			for len(res.got) < len(payload) {
				_, b, err := c.Read(ctx)
				if err != nil {
					res.err = err
					peer <- res
					r.CallFromThread(func() { r.Stop() })
					return
				}
				res.sizes = append(res.sizes, len(b))
				res.got = append(res.got, b...)
			}
			// One byte over the server's limit.
			if err := c.Write(ctx, websocket.MessageBinary, make([]byte, max+1)); err != nil {
				res.err = err
				peer <- res
				r.CallFromThread(func() { r.Stop() })
				return
			}
			_, _, res.closeErr = c.Read(ctx)
			peer <- res
		}()
		runFor(t, r)
		res := <-peer
		if res.err != nil {
			t.Fatal(res.err)
		}
		if !bytes.Equal(res.got, payload) {
			t.Fatalf("the peer got %d bytes, not the %d written", len(res.got), len(payload))
		}
		for _, n := range res.sizes {
			if n > max {
				t.Fatalf("messages of %v bytes; MaxMessage is %d", res.sizes, max)
			}
		}
		if len(res.sizes) < 6 {
			t.Fatalf("messages of %v bytes, want the write split in 6", res.sizes)
		}
		if websocket.CloseStatus(res.closeErr) != websocket.StatusMessageTooBig {
			t.Fatalf("the peer's over-long message: the peer read %v, want a close with StatusMessageTooBig", res.closeErr)
		}
		select {
		case err := <-lost:
			if errors.Is(err, core.ErrConnectionDone) || !errors.Is(err, websocket.ErrMessageTooBig) {
				t.Fatalf("ConnectionLost(%v), want an error matching websocket.ErrMessageTooBig", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no ConnectionLost")
		}
	})
}
