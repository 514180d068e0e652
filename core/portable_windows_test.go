//go:build windows

package core

import (
	"errors"
	"net"
	"testing"
	"time"
)

// On Windows the behavioural and transport suites are the portable
// backend's, which run on every make test on Linux too; this checks the
// platform's own parts: the backend list, raw descriptors refused, and a
// loopback echo through the IOCP-backed goroutines.

func TestWindowsBackends(t *testing.T) {
	if b := Backends(); len(b) != 1 || b[0] != portableBackend {
		t.Fatalf("Backends() = %v", b)
	}
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddReader(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("AddReader(nil): %v", err)
	}
}

type winEcho struct{ t Transport }

func (e *winEcho) ConnectionMade(t Transport) { e.t = t }
func (e *winEcho) DataReceived(b []byte)      { e.t.Write(b) }
func (e *winEcho) ConnectionLost(error)       {}

func TestWindowsEcho(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	port, err := r.ListenTCP("127.0.0.1:0", FactoryFunc(func(net.Addr) (Protocol, error) { return &winEcho{}, nil }))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	go func() {
		defer r.CallFromThread(func() { r.Stop() })
		c, err := net.DialTimeout("tcp", port.Addr().String(), 5*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		c.Write([]byte("windows"))
		buf := make([]byte, 7)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _ := c.Read(buf)
		got = buf[:n]
	}()
	if err := r.Run(); err != nil {
		t.Fatal(err)
	}
	if string(got) != "windows" {
		t.Fatalf("echo %q", got)
	}
}
