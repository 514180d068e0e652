package main

// The servers under test. Each runs as its own process (-role server), so
// that its CPU time, system calls, allocations and memory are its own.
//
// Control protocol: the server prints "listening <addr>" on stdout once it
// accepts connections, then answers one line per command read from stdin:
//
//	stats  -> "stats mallocs=N bytes=N conns=N frames=N late=N ran=N msgsin=N"
//	gc     -> "ok" after runtime.GC and debug.FreeOSMemory
//	heap P -> "ok" after writing a heap profile to the file P
//
// The command loop allocates nothing, so Mallocs deltas taken around a
// measured interval are the server's own. End of stdin ends the process.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/threadedselect/reactor/core"
)

// Counters shared with the control loop. Only sink mode counts bytes, so
// the echo path carries no counting.
var (
	bytesIn    atomic.Int64
	conns      atomic.Int64
	frames     atomic.Int64 // game mode: Drain calls
	lateFrames atomic.Int64 // game mode: frames whose Drain left work queued
	reactorRef atomic.Pointer[core.Reactor]
)

const (
	stdEchoBuf = 4 << 10  // per connection, std echo server
	stdSinkBuf = 64 << 10 // per connection, std bulk sink (the reactor reads 64 KiB chunks)
)

func serverMain(impl, drive, mode, addr string, maxUnread int) error {
	if mode != "echo" && mode != "sink" {
		return fmt.Errorf("unknown -mode %q", mode)
	}
	sink := mode == "sink"
	switch impl {
	case "reactor-epoll", "reactor-poll", "reactor-portable":
		return runReactor(impl[len("reactor-"):], drive, sink, addr, maxUnread)
	case "std":
		return runStd(sink, addr)
	case "gnet1", "gnetN":
		return runGnet(impl == "gnetN", sink, addr)
	}
	if isSecure(impl) && !sink {
		return runSecure(impl, addr)
	}
	return fmt.Errorf("unknown -impl %q", impl)
}

// control announces addr and serves the control protocol until stdin ends.
func control(addr string) {
	fmt.Fprintf(os.Stdout, "listening %s\n", addr)
	rd := bufio.NewReaderSize(os.Stdin, 256)
	out := make([]byte, 0, 512)
	var ms runtime.MemStats
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			os.Exit(0)
		}
		out = out[:0]
		if path, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("heap ")); ok {
			if err := writeHeapProfile(string(path)); err != nil {
				out = append(out, "error "+strings.ReplaceAll(err.Error(), "\n", " ")+"\n"...)
			} else {
				out = append(out, "ok\n"...)
			}
			os.Stdout.Write(out)
			continue
		}
		switch string(bytes.TrimSpace(line)) {
		case "stats":
			runtime.ReadMemStats(&ms)
			var ran, msgsIn uint64
			if r := reactorRef.Load(); r != nil {
				st := r.Stats()
				ran, msgsIn = st.Ran, st.MessagesIn
			}
			out = append(out, "stats mallocs="...)
			out = strconv.AppendUint(out, ms.Mallocs, 10)
			out = append(out, " bytes="...)
			out = strconv.AppendInt(out, bytesIn.Load(), 10)
			out = append(out, " conns="...)
			out = strconv.AppendInt(out, conns.Load(), 10)
			out = append(out, " frames="...)
			out = strconv.AppendInt(out, frames.Load(), 10)
			out = append(out, " late="...)
			out = strconv.AppendInt(out, lateFrames.Load(), 10)
			out = append(out, " ran="...)
			out = strconv.AppendUint(out, ran, 10)
			out = append(out, " msgsin="...)
			out = strconv.AppendUint(out, msgsIn, 10)
			out = append(out, '\n')
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			out = append(out, "ok\n"...)
		default:
			out = append(out, "error unknown command\n"...)
		}
		os.Stdout.Write(out)
	}
}

func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- reactor ----

type reactorEcho struct{ t core.Transport }

func (e *reactorEcho) ConnectionMade(t core.Transport) { e.t = t; conns.Add(1) }
func (e *reactorEcho) DataReceived(b []byte)           { e.t.Write(b) }
func (e *reactorEcho) ConnectionLost(error)            { conns.Add(-1) }

type reactorSink struct{}

func (reactorSink) ConnectionMade(core.Transport) { conns.Add(1) }
func (reactorSink) DataReceived(b []byte)         { bytesIn.Add(int64(len(b))) }
func (reactorSink) ConnectionLost(error)          { conns.Add(-1) }

func runReactor(backend, drive string, sink bool, addr string, maxUnread int) error {
	r, err := core.New(core.WithBackend(backend))
	if err != nil {
		return err
	}
	reactorRef.Store(r)
	var opts []core.ListenOption
	if maxUnread > 0 {
		opts = append(opts, core.WithMaxUnread(maxUnread))
	}
	port, err := r.ListenTCP(addr, core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		if sink {
			return reactorSink{}, nil
		}
		return &reactorEcho{}, nil
	}), opts...)
	if err != nil {
		return err
	}
	go control(port.Addr().String())
	switch drive {
	case "run":
		return r.Run()
	case "mixed":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		if _, err := r.AdoptListener(ln, core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return &reactorEcho{}, nil })); err != nil {
			return err
		}
		return r.Run()
	case "game":
		// A game's host loop: the frame clock ticks at 60 Hz and each frame
		// gives the reactor 4 ms.
		runtime.LockOSThread()
		if err := r.Start(); err != nil {
			return err
		}
		tick := time.NewTicker(time.Second / 60)
		defer tick.Stop()
		for range tick.C {
			st := r.Drain(4 * time.Millisecond)
			frames.Add(1)
			if st.Left > 0 {
				lateFrames.Add(1)
			}
			if st.Finished {
				return r.Err()
			}
		}
	}
	return fmt.Errorf("unknown -drive %q", drive)
}

// ---- standard library: one goroutine per connection ----

func runStd(sink bool, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go control(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		conns.Add(1)
		if sink {
			go stdSink(c)
		} else {
			go stdEcho(c)
		}
	}
}

func stdEcho(c net.Conn) {
	defer conns.Add(-1)
	defer c.Close()
	buf := make([]byte, stdEchoBuf)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func stdSink(c net.Conn) {
	defer conns.Add(-1)
	defer c.Close()
	buf := make([]byte, stdSinkBuf)
	for {
		n, err := c.Read(buf)
		bytesIn.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// ---- gnet v2 ----

type gnetServer struct {
	gnet.BuiltinEventEngine
	sink  bool
	ready chan string
}

func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	addr := "?"
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			if in4, ok := sa.(*unix.SockaddrInet4); ok {
				addr = net.JoinHostPort(net.IP(in4.Addr[:]).String(), strconv.Itoa(in4.Port))
			} else if in6, ok := sa.(*unix.SockaddrInet6); ok {
				addr = net.JoinHostPort(net.IP(in6.Addr[:]).String(), strconv.Itoa(in6.Port))
			}
		}
		unix.Close(fd)
	}
	s.ready <- addr
	return gnet.None
}

func (s *gnetServer) OnOpen(gnet.Conn) ([]byte, gnet.Action) {
	conns.Add(1)
	return nil, gnet.None
}

func (s *gnetServer) OnClose(gnet.Conn, error) gnet.Action {
	conns.Add(-1)
	return gnet.None
}

func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if s.sink {
		bytesIn.Add(int64(len(buf)))
		return gnet.None
	}
	c.Write(buf)
	return gnet.None
}

func runGnet(multicore, sink bool, addr string) error {
	s := &gnetServer{sink: sink, ready: make(chan string, 1)}
	go func() { control(<-s.ready) }()
	return gnet.Run(s, "tcp4://"+addr,
		gnet.WithMulticore(multicore),
		gnet.WithLogger(stderrLogger{}),
		gnet.WithLogLevel(logging.ErrorLevel))
}

// stderrLogger keeps gnet's log off stdout (the control channel) and
// drops everything below warnings.
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: warning: "+f+"\n", a...)
}
func (stderrLogger) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, "gnet: error: "+f+"\n", a...) }
func (stderrLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: fatal: "+f+"\n", a...)
	os.Exit(1)
}
