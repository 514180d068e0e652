package main

// The load generator. The echo load runs on one OS thread with its own
// epoll set and raw non-blocking sockets, so the client spends about two
// system calls per message (write, read) plus a shared epoll_wait, and
// leaves as much of the machine as it can to the server.

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// dialRaw opens a non-blocking TCP connection to addr with TCP_NODELAY.
func dialRaw(addr netip.AddrPort, timeout time.Duration) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	err = unix.Connect(fd, sa)
	if err == unix.EINPROGRESS || err == unix.EINTR {
		deadline := time.Now().Add(timeout)
		for {
			ms := int(time.Until(deadline) / time.Millisecond)
			if ms <= 0 {
				unix.Close(fd)
				return -1, fmt.Errorf("connect %v: timed out", addr)
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			n, perr := unix.Poll(pfd, ms)
			if perr == unix.EINTR || (perr == nil && n == 0) {
				continue
			}
			if perr != nil {
				unix.Close(fd)
				return -1, perr
			}
			break
		}
		soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if gerr != nil || soerr != 0 {
			unix.Close(fd)
			if gerr == nil {
				gerr = unix.Errno(soerr)
			}
			return -1, fmt.Errorf("connect %v: %w", addr, gerr)
		}
	} else if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %v: %w", addr, err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return fd, nil
}

// closeRaw closes with an RST (SO_LINGER 0), so that thousands of client
// sockets leave no TIME_WAIT behind to exhaust ephemeral ports.
func closeRaw(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

type echoConn struct {
	fd   int
	got  int
	sent time.Time
	rbuf []byte
}

// echoClient holds n connections that ping-pong fixed-size messages.
type echoClient struct {
	epfd  int
	conns []echoConn
	msg   []byte
	evs   []unix.EpollEvent
}

func newEchoClient(addr string, n, size int) (*echoClient, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	e := &echoClient{epfd: epfd, msg: make([]byte, size), evs: make([]unix.EpollEvent, 256)}
	for i := range e.msg {
		e.msg[i] = byte('a' + i%26)
	}
	e.conns = make([]echoConn, 0, n)
	for i := 0; i < n; i++ {
		fd, err := dialRaw(ap, 10*time.Second)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			closeRaw(fd)
			e.close()
			return nil, err
		}
		e.conns = append(e.conns, echoConn{fd: fd, rbuf: make([]byte, size)})
	}
	return e, nil
}

func (e *echoClient) close() {
	for _, c := range e.conns {
		closeRaw(c.fd)
	}
	e.conns = nil
	unix.Close(e.epfd)
}

func (e *echoClient) send(c *echoConn, now time.Time) error {
	c.got = 0
	c.sent = now
	for {
		n, err := unix.Write(c.fd, e.msg)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n != len(e.msg) {
			return fmt.Errorf("short write %d of %d", n, len(e.msg))
		}
		return nil
	}
}

// phaseResult is one measured interval of echo load.
type phaseResult struct {
	msgs    int
	elapsed time.Duration
	rtts    []time.Duration // one per message, in completion order
	cpu     time.Duration   // the load generator's own CPU time
}

// phase sends one message on every connection and keeps each connection
// ping-ponging until d has passed; then it lets the messages in flight
// come back, so the server is quiet when phase returns. d == 0 sends one
// message per connection. keepRTTs records every round trip.
func (e *echoClient) phase(d time.Duration, keepRTTs bool) (phaseResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var res phaseResult
	if keepRTTs {
		res.rtts = make([]time.Duration, 0, 1<<16)
	}
	cpu0 := threadCPU()
	start := time.Now()
	deadline := start.Add(d)
	hard := deadline.Add(20 * time.Second)
	for i := range e.conns {
		if err := e.send(&e.conns[i], time.Now()); err != nil {
			return res, err
		}
	}
	inflight := len(e.conns)
	size := len(e.msg)
	for inflight > 0 {
		n, err := unix.EpollWait(e.epfd, e.evs, 100)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("epoll_wait: %w", err)
		}
		if n == 0 && time.Now().After(hard) {
			return res, fmt.Errorf("echo stalled: %d messages unanswered", inflight)
		}
		for _, ev := range e.evs[:n] {
			c := &e.conns[ev.Fd]
			m, err := unix.Read(c.fd, c.rbuf[c.got:])
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil {
				return res, fmt.Errorf("read: %w", err)
			}
			if m == 0 {
				return res, fmt.Errorf("server closed a connection")
			}
			c.got += m
			if c.got < size {
				continue
			}
			now := time.Now()
			if !bytes.Equal(c.rbuf, e.msg) {
				return res, fmt.Errorf("echo mismatch: got %q", c.rbuf)
			}
			res.msgs++
			if keepRTTs {
				res.rtts = append(res.rtts, now.Sub(c.sent))
			}
			if now.Before(deadline) {
				if err := e.send(c, now); err != nil {
					return res, err
				}
			} else {
				c.got = 0
				inflight--
			}
		}
	}
	res.elapsed = time.Since(start)
	res.cpu = threadCPU() - cpu0
	return res, nil
}

// threadCPU is the calling OS thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// bulkSend writes 64 KiB buffers to addr as fast as the connection takes
// them until stop is closed; it returns the bytes written.
func bulkSend(addr string, stop <-chan struct{}) (<-chan int64, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	done := make(chan int64, 1)
	var stopped atomic.Bool
	go func() {
		<-stop
		stopped.Store(true)
		c.SetWriteDeadline(time.Now())
	}()
	go func() {
		buf := make([]byte, 64<<10)
		var total int64
		for !stopped.Load() {
			n, err := c.Write(buf)
			total += int64(n)
			if err != nil {
				break
			}
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
		done <- total
	}()
	return done, nil
}
