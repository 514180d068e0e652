//go:build unix

package ebitenreactor_test

// Raw loopback sockets for the reactor: the TCP transport is not in core
// yet, so the game side of each connection is a descriptor taken from a Go
// net.Conn (duplicated, non-blocking, close-on-exec) and registered with
// AddReader/AddWriter; the peer side stays a Go net.Conn that test
// goroutines read and write.

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/internal/testutil"
)

// sockets makes loopback connection pairs and remembers every socket it
// made (by inode) to check that none is left open.
type sockets struct {
	ln     net.Listener
	mu     sync.Mutex
	inodes map[uint64]string
}

func newSockets() (*sockets, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sockets{ln: ln, inodes: map[uint64]string{}}
	if err := s.remember(ln.(*net.TCPListener), "listener"); err != nil {
		ln.Close()
		return nil, err
	}
	return s, nil
}

type syscallConner interface {
	SyscallConn() (syscall.RawConn, error)
}

func (s *sockets) remember(c syscallConner, what string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	s.mu.Lock()
	s.inodes[st.Ino] = what
	s.mu.Unlock()
	return nil
}

// pair connects a peer to the listener and returns the peer's net.Conn and
// the game side's raw descriptor, which the caller owns (close it in
// ConnectionLost).
func (s *sockets) pair() (peer *net.TCPConn, fd int, err error) {
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		return nil, -1, err
	}
	peer = c.(*net.TCPConn)
	acc, err := s.ln.Accept()
	if err != nil {
		peer.Close()
		return nil, -1, err
	}
	defer acc.Close() // the duplicate keeps the socket open
	if err := s.remember(peer, "peer"); err != nil {
		peer.Close()
		return nil, -1, err
	}
	rc, err := acc.(*net.TCPConn).SyscallConn()
	if err != nil {
		peer.Close()
		return nil, -1, err
	}
	var derr error
	fd = -1
	if err := rc.Control(func(orig uintptr) {
		fd, derr = unix.FcntlInt(orig, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		peer.Close()
		return nil, -1, err
	}
	if derr != nil {
		peer.Close()
		return nil, -1, derr
	}
	// Go's descriptor is already non-blocking and shares the file
	// description with the duplicate; set it anyway, it is the contract.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		peer.Close()
		return nil, -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		s.mu.Lock()
		s.inodes[st.Ino] = "game side fd " + strconv.Itoa(fd)
		s.mu.Unlock()
	}
	return peer, fd, nil
}

func (s *sockets) close() { s.ln.Close() }

// leaked lists the sockets this made that are still open in the process.
func (s *sockets) leaked() []string {
	fds, ok := testutil.OpenFds()
	if !ok {
		return []string{"cannot read /proc/self/fd"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for fd, link := range fds {
		if !strings.HasPrefix(link, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
		if err != nil {
			continue
		}
		if what, ok := s.inodes[ino]; ok {
			out = append(out, fmt.Sprintf("fd %s: %s (%s)", fd, link, what))
		}
	}
	return out
}

// Callback kinds checked for running on the driving goroutine.
const (
	kindRead = iota
	kindWrite
	kindLost
	kindTimer
	kindThreadCall
	kindTrigger
	kindCount
)

var kindNames = [kindCount]string{"DoRead", "DoWrite", "ConnectionLost", "CallLater", "CallFromThread", "trigger"}

// threads checks that callbacks run on the goroutine driving the reactor.
// Each callback records the goroutine it ran on; the scenario says at the
// end which goroutines were allowed: the game goroutine (whose id the
// game's Update records), and, once RunGame has returned, the goroutine
// that calls Finish.
type threads struct {
	r       *core.Reactor
	mu      sync.Mutex
	seen    [kindCount]map[uint64]int64
	notMain [kindCount]int64
}

func newThreads(r *core.Reactor) *threads {
	t := &threads{r: r}
	for k := range t.seen {
		t.seen[k] = map[uint64]int64{}
	}
	return t
}

func (t *threads) check(kind int) {
	if t == nil {
		return
	}
	id, inMain := goid(), t.r.InMainThread()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen[kind][id]++
	if !inMain {
		t.notMain[kind]++
	}
}

// report fails the scenario for callbacks that ran anywhere but on the
// allowed goroutines, and for kinds in need that never ran at all.
func (t *threads) report(rep *report, allowed []uint64, need ...int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := 0; k < kindCount; k++ {
		var total int64
		for id, n := range t.seen[k] {
			total += n
			if !slices.Contains(allowed, id) {
				rep.failf("%d %s callbacks ran on goroutine %d, not on the driving goroutine (allowed %v)", n, kindNames[k], id, allowed)
			}
		}
		if t.notMain[k] > 0 {
			rep.failf("%d %s callbacks ran where InMainThread was false", t.notMain[k], kindNames[k])
		}
		rep.metric("calls_"+kindNames[k], float64(total))
		if total == 0 && slices.Contains(need, k) {
			rep.failf("no %s callback ran", kindNames[k])
		}
	}
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// linkConn is the game side of a connection that says goodbye: it sends
// its queue, and when asked to close (a before-shutdown trigger) it sends
// the rest, shuts down its write side, and waits for the peer to close in
// turn, which it reads as EOF. done is closed then, or on any loss.
type linkConn struct {
	fd      int
	r       *core.Reactor
	out     []byte
	off     int
	closing bool
	shut    bool
	writing bool
	done    chan struct{}
	lost    error
	th      *threads
	buf     [4096]byte
}

func newLinkConn(r *core.Reactor, fd int, th *threads) *linkConn {
	return &linkConn{fd: fd, r: r, done: make(chan struct{}), th: th}
}

func (c *linkConn) Fd() int { return c.fd }

// send queues data. Main thread.
func (c *linkConn) send(b []byte) error {
	c.out = append(c.out, b...)
	return c.watchWrites()
}

func (c *linkConn) watchWrites() error {
	if c.writing || c.fd < 0 {
		return nil
	}
	c.writing = true
	return c.r.AddWriter(c)
}

// closeGracefully flushes the queue, then shuts down the write side; the
// returned channel is closed once the peer has closed too. Main thread.
func (c *linkConn) closeGracefully() <-chan struct{} {
	c.closing = true
	if err := c.watchWrites(); err != nil {
		c.ConnectionLost(err)
	}
	return c.done
}

// pending reports how many queued bytes are not sent yet.
func (c *linkConn) pending() int { return len(c.out) - c.off }

func (c *linkConn) DoWrite() error {
	c.th.check(kindWrite)
	const chunk = 256 << 10
	if c.off < len(c.out) {
		n, err := unix.Write(c.fd, c.out[c.off:min(len(c.out), c.off+chunk)])
		if n > 0 {
			c.off += n
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			return err
		}
		if c.off < len(c.out) {
			return nil
		}
	}
	if c.closing && !c.shut {
		if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
			return err
		}
		c.shut = true
	}
	// Nothing left to write: stop watching writability, or the poll
	// thread would report it every round.
	c.writing = false
	c.r.RemoveWriter(c)
	return nil
}

func (c *linkConn) DoRead() error {
	c.th.check(kindRead)
	n, err := unix.Read(c.fd, c.buf[:])
	switch {
	case n > 0:
		return nil // the peer sends nothing but its close; ignore
	case err == unix.EAGAIN || err == unix.EINTR:
		return nil
	case err != nil:
		return err
	default:
		return io.EOF
	}
}

func (c *linkConn) ConnectionLost(reason error) {
	c.th.check(kindLost)
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	if c.lost == nil {
		c.lost = reason
		close(c.done)
	}
}

// pattern fills n bytes with a sequence that differs per seed, so a lost,
// duplicated or reordered chunk changes the checksum.
func pattern(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// readAll reads a peer connection to EOF, returning count and checksum.
func readAll(c net.Conn) (int64, uint32, error) {
	buf := make([]byte, 64<<10)
	var n int64
	var crc uint32
	for {
		k, err := c.Read(buf)
		n += int64(k)
		crc = crc32.Update(crc, crcTable, buf[:k])
		if errors.Is(err, io.EOF) {
			return n, crc, nil
		}
		if err != nil {
			return n, crc, err
		}
	}
}
