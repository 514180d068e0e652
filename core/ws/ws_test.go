package ws_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
	"go.uber.org/goleak"
)

type proto struct {
	made func(core.Transport)
	data func([]byte)
	lost func(error)
	t    core.Transport
}

func (p *proto) ConnectionMade(t core.Transport) {
	p.t = t
	if p.made != nil {
		p.made(t)
	}
}
func (p *proto) DataReceived(b []byte) {
	if p.data != nil {
		p.data(b)
	}
}
func (p *proto) ConnectionLost(err error) {
	if p.lost != nil {
		p.lost(err)
	}
}

// TestWebSocketEcho: an HTTP server mounting Handler, a client using Dial,
// both on one reactor driven by Run: megabytes go both ways through binary
// messages and arrive intact and in order; a clean close on both ends.
func TestWebSocketEcho(t *testing.T) {
	for _, backend := range core.Backends() {
		t.Run(backend, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			r, err := core.New(core.WithBackend(backend))
			if err != nil {
				t.Fatal(err)
			}
			serverLost := make(chan error, 1)
			echo := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
				p := &proto{}
				p.data = func(b []byte) { p.t.Write(b) }
				p.lost = func(err error) { serverLost <- err }
				return p, nil
			})
			srv := httptest.NewServer(ws.Handler(r, echo, nil))
			defer srv.Close()
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			payload := make([]byte, 2<<20)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			var got []byte
			var clientLost error
			ws.Dial(context.Background(), r, url, core.ClientFuncs{
				Build: func(net.Addr) (core.Protocol, error) {
					p := &proto{}
					p.made = func(tr core.Transport) { tr.Write(payload) }
					p.data = func(b []byte) {
						got = append(got, b...)
						if len(got) == len(payload) {
							p.t.LoseConnection()
						}
					}
					p.lost = func(err error) { clientLost = err; r.Stop() }
					return p, nil
				},
				Failed: func(err error) { t.Errorf("dial: %v", err); r.Stop() },
			}, nil)
			done := make(chan error, 1)
			go func() { done <- r.Run() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				r.Stop()
				t.Fatal("timeout")
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("echoed %d of %d bytes", len(got), len(payload))
			}
			if !errors.Is(clientLost, core.ErrConnectionDone) {
				t.Fatalf("client lost: %v", clientLost)
			}
			select {
			case <-serverLost:
			case <-time.After(5 * time.Second):
				t.Fatal("the server's connection was not lost")
			}
		})
	}
}

// TestWebSocketDialFailure: a URL nobody serves reaches ConnectionFailed.
func TestWebSocketDialFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	srv.Close()
	var failed error
	ws.Dial(context.Background(), r, url, core.ClientFuncs{
		Build:  func(net.Addr) (core.Protocol, error) { t.Error("built"); return &proto{}, nil },
		Failed: func(err error) { failed = err; r.Stop() },
	}, nil)
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if failed == nil || !strings.Contains(failed.Error(), url) {
		t.Fatalf("ConnectionFailed(%v)", failed)
	}
}
