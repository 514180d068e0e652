package framing_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"go.uber.org/goleak"
)

type handler struct {
	t    core.Transport
	msgs []string
	lost error
	done func()
}

func (h *handler) ConnectionMade(t core.Transport) { h.t = t }
func (h *handler) MessageReceived(p []byte) error {
	h.msgs = append(h.msgs, string(p))
	framing.Send(h.t, nil, []byte("ack "+string(p)))
	return nil
}
func (h *handler) ConnectionLost(err error) { h.lost = err; h.done() }

func TestProtocolClosesConnectionOnBadFrame(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, tc := range []struct {
		name string
		bad  []byte
		want error
	}{
		{"oversized", framing.Append(nil, make([]byte, 101)), framing.ErrTooLarge},
		{"malformed", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, framing.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := core.New()
			if err != nil {
				t.Fatal(err)
			}
			h := &handler{}
			h.done = func() { r.Stop() }
			port, err := r.ListenTCP("127.0.0.1:0", core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
				return framing.NewProtocol(h, 100), nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			clientDone := make(chan []byte)
			go func() {
				c, err := net.Dial("tcp", port.Addr().String())
				if err != nil {
					t.Error(err)
					close(clientDone)
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write(framing.Append(framing.Append(nil, []byte("one")), []byte("two")))
				c.Write(tc.bad)
				got, _ := io.ReadAll(c)
				clientDone <- got
			}()
			if err := r.Run(); err != nil {
				t.Fatal(err)
			}
			got := <-clientDone
			if len(h.msgs) != 2 || h.msgs[0] != "one" || h.msgs[1] != "two" {
				t.Fatalf("messages before the bad frame: %q", h.msgs)
			}
			if !errors.Is(h.lost, tc.want) || !errors.Is(h.lost, core.ErrBadInput) {
				t.Fatalf("ConnectionLost(%v), want %v", h.lost, tc.want)
			}
			t.Logf("peer read %q before the close; reason: %v", got, h.lost)
		})
	}
}
