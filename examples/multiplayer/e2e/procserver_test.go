package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
	"github.com/threadedselect/reactor/examples/multiplayer/game"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// Helpers for the tests that attack the real server command: the binary
// (built once per test run), its stderr read slowly, honest bots in this
// process, and raw attacking clients.

// builtBins is the directory with the commands, built on first use and
// removed when the tests end (see TestMain).
type builtBins struct {
	once sync.Once
	dir  string
	err  error
}

func (b *builtBins) get(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the commands")
	}
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		if b.dir, b.err = os.MkdirTemp("", "e2e-bins-"); b.err != nil {
			return
		}
		out, err := exec.Command(goBin, "build", "-o", b.dir,
			"github.com/threadedselect/reactor/examples/multiplayer/server").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Skipf("cannot build the server: %v", b.err)
	}
	return b.dir
}

func (b *builtBins) remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// serverProc is the server command running as a process, its stderr read
// at a fixed rate (a slow log sink), by a goroutine that ends when the
// process closes stderr.
type serverProc struct {
	cmd    *exec.Cmd
	addr   string
	webURL string // with -web: the URL the server printed
	stderr *logSink
	read   chan struct{} // closed when stderr reached EOF
	exited chan struct{}
}

// startServerProc starts the server with args (after -addr 127.0.0.1:0),
// reading its stderr at bytesPerSec (0: as fast as it comes).
func startServerProc(t *testing.T, bytesPerSec int, args ...string) *serverProc {
	t.Helper()
	bin := filepath.Join(serverBins.get(t), "server")
	p := &serverProc{
		cmd:    exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...),
		stderr: newLogSink(),
		read:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readStderr(errPipe, bytesPerSec)
	lines, webLines := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "listening on ") {
				lines <- strings.TrimPrefix(l, "listening on ")
			} else if u, ok := strings.CutPrefix(l, "browser client at "); ok {
				webLines <- u
			}
		}
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("server stderr (last 60 lines):\n%s", p.stderr.tail(60))
		}
	})
	select {
	case p.addr = <-lines:
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not say where it listens")
	}
	if slices.Contains(args, "-web") {
		select {
		case p.webURL = <-webLines:
		case <-time.After(15 * time.Second):
			t.Fatal("the server did not say where its web endpoint is")
		}
	}
	return p
}

// readStderr copies the server's stderr into p.stderr at most bytesPerSec
// (in 100 ms portions), until EOF.
func (p *serverProc) readStderr(r io.Reader, bytesPerSec int) {
	defer close(p.read)
	if bytesPerSec <= 0 {
		_, _ = io.Copy(p.stderr, r)
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, max(bytesPerSec/10, 1))
	for range tick.C {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			_, _ = p.stderr.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// stop ends the server with SIGTERM (SIGKILL if it takes too long) and
// waits for it and for the stderr reader; the reader may still need to
// read what the server wrote last, at its rate.
func (p *serverProc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // in case a test stopped it
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		<-p.read // Wait closes the pipe: read it to the end first
		done <- p.cmd.Wait()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		t.Error("the server did not exit within 30s of SIGTERM")
	}
}

// rssKB returns the server's resident set size, in KiB.
func (p *serverProc) rssKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS %q", v)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// honest is a swarm of honest bots in this process, playing on a server
// process.
type honest struct {
	loop *loop
	sw   *swarm.Swarm
	logs *logSink
}

// startHonest starts n bots on addr (over UDP, except that adjust may
// change each bot's config) and waits until all are connected, know each
// other and get snapshots.
func startHonest(t *testing.T, addr string, n int, adjust func(i int, cc *netclient.Config)) *honest {
	t.Helper()
	h := &honest{logs: newLogSink()}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.loop = startLoop(t, log, nil)
	i := 0
	h.loop.do(t, func() {
		var err error
		h.sw, err = swarm.Start(h.loop.r, swarm.Config{Addr: addr, N: n, UDP: true, Seed: 1,
			Client: func(cc *netclient.Config) {
				if adjust != nil {
					adjust(i, cc)
				}
				i++
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		var bye <-chan struct{}
		h.loop.do(t, func() { bye = h.sw.Goodbye() })
		select {
		case <-bye:
		case <-time.After(20 * time.Second):
			t.Error("bots' goodbyes did not finish")
		}
	})
	h.loop.waitFor(t, "every honest bot connected, knowing every player", 30*time.Second, func() bool {
		for _, b := range h.sw.Bots {
			st := b.Session.State()
			if st.Status != netclient.StatusConnected || len(b.Session.PlayerIDs(nil)) < n || st.Snapshots == 0 {
				return false
			}
		}
		return true
	})
	return h
}

// minSnapshotRate is what every honest bot must receive during an attack:
// the server's 30 ticks a second, less one snapshot in thirty.
const minSnapshotRate = 29

// measure reports the bots over at least d while during runs (on this
// goroutine, from the start of the window).
func (h *honest) measure(t *testing.T, d time.Duration, during func()) swarm.Report {
	t.Helper()
	var m swarm.Meter
	var start time.Time
	h.loop.do(t, func() { start = h.loop.r.Now(); m.Measure(h.sw, start) })
	if during != nil {
		during()
	}
	h.loop.waitFor(t, "the measuring window", d+10*time.Second, func() bool {
		return h.loop.r.Now().Sub(start) >= d
	})
	var rep swarm.Report
	h.loop.do(t, func() { rep = m.Measure(h.sw, h.loop.r.Now()) })
	return rep
}

// measureAttack measures the bots over d, starting attack (which must not
// block) at the start of the window, and fails the test unless every bot
// stayed connected and got minSnapshotRate. A window below the rate with
// everybody connected is measured once more right after (the attack goes
// on if it lasts): a machine busy with other work can stall a process for
// a moment, a real regression fails twice.
func (h *honest) measureAttack(t *testing.T, d time.Duration, attack func()) swarm.Report {
	t.Helper()
	// A window's edges can cut one snapshot off: that one is not the
	// server's doing.
	min := minSnapshotRate - 1/d.Seconds()
	rep := h.measure(t, d, attack)
	if rep.Connected == rep.Bots && rep.PerBotMin < min {
		t.Logf("first window below the rate, measuring again: %v", rep)
		rep = h.measure(t, d, nil)
	}
	if rep.Connected != rep.Bots || rep.PerBotMin < min {
		t.Errorf("honest bots: %v; want all %d connected and at least %d snapshots/s each", rep, rep.Bots, minSnapshotRate)
		h.loop.do(t, func() {
			for _, b := range h.sw.Bots {
				t.Logf("%s: %+v", b.Name, b.Session.State())
			}
		})
	}
	return rep
}

// duringAttack runs attack on its own goroutine and measures the bots over
// at least d from its start (twice if the first window is below the rate,
// see measureAttack); then it closes the attack's stop channel and waits
// for it to return. attack must end on its own too, in bounded time.
func (h *honest) duringAttack(t *testing.T, d time.Duration, attack func(stop <-chan struct{})) swarm.Report {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	var rep swarm.Report
	func() {
		defer func() {
			close(stop)
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("the attack did not end within 60s of its window")
			}
		}()
		rep = h.measureAttack(t, d, func() {
			go func() {
				defer close(done)
				attack(stop)
			}()
		})
	}()
	return rep
}

// dialFrom connects to addr from the local address ip (any of 127/8 on
// Linux), with a receive buffer of rcvbuf bytes if rcvbuf > 0.
func dialFrom(ip, addr string, rcvbuf int) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// send writes one framed payload.
func send(c net.Conn, payload []byte) error {
	_, err := c.Write(framing.Append(nil, toSession(payload)))
	return err
}

// readMsg reads one message within timeout.
func readMsg(c net.Conn, br *bufio.Reader, timeout time.Duration) (game.Message, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if n > 4096 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return nil, err
	}
	return fromSession(payload)
}

// helloFrom connects from ip, sends a Hello with payload and returns the
// first answer (Welcome or Reject) and the open connection; the caller
// closes it.
func helloFrom(ip, addr string, payload []byte) (game.Message, *net.TCPConn, *bufio.Reader, error) {
	c, err := dialFrom(ip, addr, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := send(c, payload); err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	br := bufio.NewReader(c)
	m, err := readMsg(c, br, 10*time.Second)
	if err != nil {
		c.Close()
		return nil, nil, nil, err
	}
	return m, c, br, nil
}

func helloPayload(version uint16, name string) []byte {
	return game.AppendHello(nil, game.Hello{Version: version, Name: name})
}

// isReject reports whether m is a Reject whose reason contains want.
func isReject(m game.Message, want string) bool {
	r, ok := m.(game.Reject)
	return ok && strings.Contains(r.Reason, want)
}
