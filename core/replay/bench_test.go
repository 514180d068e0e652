package replay_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
)

// captureNet is a netio.Net with no sockets that hands the test what the
// game gave it (factories, datagram protocols, timer functions), so the
// recorder's paths can be driven directly.
type captureNet struct {
	now     time.Time
	real    bool // Now reads the system clock
	factory core.ClientFactory
	dproto  core.DatagramProtocol
	timerFn func()
}

func (n *captureNet) Now() time.Time {
	if n.real {
		return time.Now()
	}
	return n.now
}
func (n *captureNet) CallLater(d time.Duration, f func()) (netio.Timer, error) {
	n.timerFn = f
	return nopTimer{}, nil
}
func (n *captureNet) CallEvery(d time.Duration, f func()) (netio.Timer, error) {
	n.timerFn = f
	return nopTimer{}, nil
}
func (n *captureNet) ConnectTCP(_ string, f core.ClientFactory, _ time.Duration, _ ...core.ListenOption) (netio.Dialing, error) {
	n.factory = f
	return nopDialing{}, nil
}
func (n *captureNet) ListenTCP(string, core.Factory, ...core.ListenOption) (netio.Listener, error) {
	return nil, core.ErrUnsupported
}
func (n *captureNet) ListenUDP(_ string, p core.DatagramProtocol) (netio.PacketPort, error) {
	n.dproto = p
	return nopPort{}, nil
}

type nopTimer struct{}

func (nopTimer) Cancel() error { return nil }
func (nopTimer) Active() bool  { return true }

type nopDialing struct{}

func (nopDialing) Cancel() {}

type nopPort struct{}

func (nopPort) LocalAddr() netip.AddrPort            { return netip.MustParseAddrPort("127.0.0.1:5") }
func (nopPort) Connect(netip.AddrPort) error         { return nil }
func (nopPort) Write([]byte) error                   { return nil }
func (nopPort) WriteTo([]byte, netip.AddrPort) error { return nil }
func (nopPort) Close() error                         { return nil }
func (nopPort) Stats() core.UDPStats                 { return core.UDPStats{} }

type nopTransport struct{}

func (nopTransport) Write(p []byte) (int, error)     { return len(p), nil }
func (nopTransport) Writev(b ...[]byte) (int, error) { return 0, nil }
func (nopTransport) LoseConnection() error           { return nil }
func (nopTransport) AbortConnection() error          { return nil }
func (nopTransport) AbortWithError(error) error      { return nil }
func (nopTransport) PauseProducing()                 {}
func (nopTransport) ResumeProducing()                {}
func (nopTransport) SetWriteBufferLimits(int, int)   {}
func (nopTransport) SetNoDelay(bool) error           { return nil }
func (nopTransport) LocalAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (nopTransport) RemoteAddr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (nopTransport) ID() core.ConnID                 { return 1 }
func (nopTransport) Stats() core.ConnStats           { return core.ConnStats{} }

// snapshotWork stands for a game's handling of a message: it reads the
// payload as uvarints, as a snapshot decoder does, into a running sum.
type snapshotWork struct {
	t   core.Transport
	sum uint64
	n   int
}

func (w *snapshotWork) ConnectionMade(t core.Transport) { w.t = t }
func (w *snapshotWork) ConnectionLost(error)            {}
func (w *snapshotWork) MessageReceived(m []byte) error {
	w.work(m)
	return nil
}
func (w *snapshotWork) DatagramReceived(m []byte, _ netip.AddrPort) { w.work(m) }
func (w *snapshotWork) work(m []byte) {
	for len(m) > 0 {
		v, k := binary.Uvarint(m)
		if k <= 0 {
			break
		}
		w.sum += v
		m = m[k:]
	}
	w.n++
}

func snapshotPayload() []byte {
	var b []byte
	for i := range 60 {
		b = binary.AppendUvarint(b, uint64(i*97%5000))
	}
	return b // about 120 bytes, the size of a 5-player snapshot
}

// Recording allocates nothing per event: stream bytes, datagrams (from
// the same source and a new one), timer firings, writes of both kinds,
// with the clock moving every time.
func TestRecordingAllocatesNothing(t *testing.T) {
	n := &captureNet{now: time.Unix(1000, 0)}
	rec, err := replay.NewRecorder(io.Discard, n, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &snapshotWork{}
	if _, err := rec.ConnectTCP("x:1", core.ClientFuncs{Build: func(net.Addr) (core.Protocol, error) { return framing.NewProtocol(w, 0), nil }}, 0); err != nil {
		t.Fatal(err)
	}
	p, _ := n.factory.BuildProtocol(nil)
	p.ConnectionMade(nopTransport{})
	pp := p.(core.PartialProtocol)
	u, _ := rec.ListenUDP("127.0.0.1:0", w)
	ticks := 0
	_, _ = rec.CallEvery(time.Millisecond, func() { ticks++ })
	frame := framing.Append(nil, snapshotPayload())
	dgram := snapshotPayload()
	a, b := netip.MustParseAddrPort("127.0.0.1:7"), netip.MustParseAddrPort("127.0.0.1:8")
	never := func() bool { return false }
	out := []byte("input 1234")
	i := 0
	step := func() {
		i++
		n.now = n.now.Add(time.Millisecond)
		pp.DataReceivedPartial(frame, never)
		n.dproto.DatagramReceived(dgram, a)
		if i%4 == 0 {
			n.dproto.DatagramReceived(dgram, b)
		}
		n.timerFn()
		_, _ = w.t.Write(out)
		_ = u.WriteTo(out, a)
		rec.BeginFrame()
		rec.EndFrame(uint64(i))
	}
	for range 100 {
		step() // grow the block buffer
	}
	if allocs := testing.AllocsPerRun(2000, step); allocs != 0 {
		t.Fatalf("%v allocations per round of events", allocs)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if ticks == 0 || w.n == 0 || rec.Stats().Records == 0 {
		t.Fatal("nothing happened")
	}
}

// BenchmarkRecord measures what recording costs per event, alone: the
// game's side does nothing, so the time is the recorder's (the clock
// read, the encoding, a share of handing blocks to the writer goroutine)
// and the wrappers' calls. Compare with a frame's drain time
// (BenchmarkFrame, the net graph).
func BenchmarkRecord(b *testing.B) {
	setup := func(b *testing.B) (*captureNet, *replay.Recorder) {
		n := &captureNet{now: time.Unix(1000, 0)}
		rec, err := replay.NewRecorder(io.Discard, n, replay.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = rec.Close() })
		return n, rec
	}
	nop := nopProto{}
	b.Run("stream-120B", func(b *testing.B) {
		n, rec := setup(b)
		_, _ = rec.ConnectTCP("x:1", core.ClientFuncs{Build: func(net.Addr) (core.Protocol, error) { return nop, nil }}, 0)
		p, _ := n.factory.BuildProtocol(nil)
		p.ConnectionMade(nopTransport{})
		data := framing.Append(nil, snapshotPayload())
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n.now = n.now.Add(time.Millisecond)
			p.DataReceived(data)
		}
	})
	b.Run("stream-120B-system-clock", func(b *testing.B) {
		n, rec := setup(b)
		n.real = true // the clock read each event costs, as on a reactor
		_, _ = rec.ConnectTCP("x:1", core.ClientFuncs{Build: func(net.Addr) (core.Protocol, error) { return nop, nil }}, 0)
		p, _ := n.factory.BuildProtocol(nil)
		p.ConnectionMade(nopTransport{})
		data := framing.Append(nil, snapshotPayload())
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p.DataReceived(data)
		}
	})
	b.Run("datagram-120B", func(b *testing.B) {
		n, rec := setup(b)
		_, _ = rec.ListenUDP("127.0.0.1:0", nop)
		data := snapshotPayload()
		from := netip.MustParseAddrPort("127.0.0.1:7")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n.now = n.now.Add(time.Millisecond)
			n.dproto.DatagramReceived(data, from)
		}
	})
	b.Run("timer", func(b *testing.B) {
		n, rec := setup(b)
		_, _ = rec.CallEvery(time.Millisecond, func() {})
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n.now = n.now.Add(time.Millisecond)
			n.timerFn()
		}
	})
	b.Run("write-12B", func(b *testing.B) {
		n, rec := setup(b)
		var t core.Transport
		_, _ = rec.ConnectTCP("x:1", core.ClientFuncs{Build: func(net.Addr) (core.Protocol, error) {
			return protoFunc(func(tr core.Transport) { t = tr }), nil
		}}, 0)
		p, _ := n.factory.BuildProtocol(nil)
		p.ConnectionMade(nopTransport{})
		out := []byte("\x0binput 1234")
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_, _ = t.Write(out)
		}
	})
}

type nopProto struct{}

func (nopProto) ConnectionMade(core.Transport)           {}
func (nopProto) DataReceived([]byte)                     {}
func (nopProto) ConnectionLost(error)                    {}
func (nopProto) DatagramReceived([]byte, netip.AddrPort) {}

type protoFunc func(core.Transport)

func (f protoFunc) ConnectionMade(t core.Transport) { f(t) }
func (protoFunc) DataReceived([]byte)               {}
func (protoFunc) ConnectionLost(error)              {}

// BenchmarkFrame measures what recording adds to a frame's drain time on
// a real reactor over loopback sockets: each frame brings four framed
// 120-byte messages over TCP and four datagrams (a client's few snapshots
// and pongs), which the game decodes, and a timer firing; the recording
// goes to a file. The metric drain-ns/frame is the main thread's time in
// Drain (core.DrainStats.Elapsed) per frame; compare plain with recorded.
func BenchmarkFrame(b *testing.B) {
	for _, recorded := range []bool{false, true} {
		name := "plain"
		if recorded {
			name = "recorded"
		}
		b.Run(name, func(b *testing.B) { benchFrame(b, recorded) })
	}
}

func benchFrame(b *testing.B, recorded bool) {
	const k = 4
	r, err := core.New()
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = r.Stop()
		for !r.Drain(time.Millisecond).Finished {
		}
	}()
	var gnet netio.Net = netio.Reactor(r)
	var rec *replay.Recorder
	if recorded {
		f, err := os.Create(filepath.Join(b.TempDir(), "bench.rec"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec, err = replay.NewRecorder(f, gnet, replay.Options{})
		if err != nil {
			b.Fatal(err)
		}
		gnet = rec
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	w := &snapshotWork{}
	if _, err := gnet.ConnectTCP(ln.Addr().String(), core.ClientFuncs{Build: func(net.Addr) (core.Protocol, error) { return framing.NewProtocol(w, 0), nil }}, 0); err != nil {
		b.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	var peer net.Conn
	for peer == nil {
		r.Drain(time.Millisecond) // the connect goes out from the main thread
		select {
		case peer = <-accepted:
			if peer == nil {
				b.Fatal("accept failed")
			}
		default:
		}
	}
	defer peer.Close()
	u, err := gnet.ListenUDP("127.0.0.1:0", w)
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.LocalAddr()))
	if err != nil {
		b.Fatal(err)
	}
	defer uc.Close()
	ticks := 0
	tick := func() { ticks++ }

	payload := snapshotPayload()
	var frames []byte
	for range k {
		frames = framing.Append(frames, payload)
	}
	send := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		for range send {
			if _, err := peer.Write(frames); err != nil {
				sent <- err
				return
			}
			for range k {
				if _, err := uc.Write(payload); err != nil {
					sent <- err
					return
				}
			}
		}
		sent <- nil
	}()
	var elapsed time.Duration
	events := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target := w.n + 2*k
		_, _ = gnet.CallLater(0, tick) // one timer a frame
		send <- struct{}{}
		deadline := time.Now().Add(10 * time.Second)
		for w.n < target {
			if rec != nil {
				rec.BeginFrame()
			}
			st := r.Drain(4 * time.Millisecond)
			if st.Ran > 0 {
				elapsed += st.Elapsed
				events += st.Ran
			}
			if time.Now().After(deadline) {
				b.Fatalf("frame %d: %d of %d messages", i, w.n, target)
			}
		}
		if rec != nil {
			rec.EndFrame(w.sum)
		}
	}
	b.StopTimer()
	close(send)
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "drain-ns/frame")
	b.ReportMetric(float64(events)/float64(b.N), "callbacks/frame")
	if rec != nil {
		if err := rec.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rec.Stats().Bytes)/float64(b.N), "file-B/frame")
	}
}
