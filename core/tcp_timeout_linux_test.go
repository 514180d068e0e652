//go:build unix

package core

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTCPConnectTimeout connects to a listener whose accept queue is full:
// Linux drops the SYN, so the connect hangs until the timeout.
func TestTCPConnectTimeout(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		addr, cleanup := fullBacklogListener(t)
		defer cleanup()
		var got error
		start := time.Now()
		_, err := r.ConnectTCP(addr, ClientFuncs{
			Build:  func(net.Addr) (Protocol, error) { return &protoFuncs{}, nil },
			Failed: func(err error) { got = err; must(t, r.Stop()) },
		}, 200*time.Millisecond)
		must(t, err)
		h.runReactor(r)
		if !errors.Is(got, ErrTimeout) {
			t.Fatalf("ConnectionFailed(%v) after %v, want ErrTimeout", got, time.Since(start))
		}
	})
}

// fullBacklogListener returns the address of a listening socket with a
// backlog of zero that nobody accepts from, with its queue filled.
func fullBacklogListener(t *testing.T) (string, func()) {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(t, err)
	must(t, unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	must(t, unix.Listen(lfd, 0))
	sa, err := unix.Getsockname(lfd)
	must(t, err)
	port := sa.(*unix.SockaddrInet4).Port
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var fills []int
	for i := 0; i < 4; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		must(t, err)
		unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
		fills = append(fills, fd)
	}
	return addr, func() {
		for _, fd := range fills {
			unix.Close(fd)
		}
		unix.Close(lfd)
	}
}
