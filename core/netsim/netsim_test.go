package netsim_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
	"github.com/threadedselect/reactor/core/netsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func badWiFi(t testing.TB) netsim.Settings {
	s, ok := netsim.Preset("bad-wifi")
	if !ok {
		t.Fatal("no bad Wi-Fi preset")
	}
	return s
}

var from = netip.MustParseAddrPort("127.0.0.1:9")

// datagramRun sends n datagrams, one a millisecond, through one direction
// of a simulated port on a fake clock, and returns each copy that came out:
// its sequence number and its delay, in arrival order.
type arrival struct {
	seq   int
	delay time.Duration
}

func datagramRun(t testing.TB, s netsim.Settings, seed uint64, n int, send bool) ([]arrival, netsim.Stats) {
	fn := newFakeNet()
	c := netsim.New(fn, s, seed)
	rec := &recorder{n: fn}
	p, err := c.ListenUDP("127.0.0.1:5000", rec)
	if err != nil {
		t.Fatal(err)
	}
	proto, port := c.WrapDatagramProtocol(rec)
	if !send {
		port.Attach(&fakePort{n: fn})
	}
	start := fn.now
	buf := make([]byte, 8)
	for i := range n {
		binary.BigEndian.PutUint64(buf, uint64(i))
		if send {
			if err := p.Write(buf); err != nil {
				t.Fatal(err)
			}
		} else {
			proto.DatagramReceived(buf, from)
		}
		fn.advance(time.Millisecond)
	}
	fn.advance(10 * time.Second)
	var got []sentDatagram
	if send {
		got = p.(*netsim.Port).Underlying().(*fakePort).sent
	} else {
		got = rec.chunks
	}
	out := make([]arrival, 0, len(got))
	for _, d := range got {
		seq := int(binary.BigEndian.Uint64(d.data))
		out = append(out, arrival{seq: seq, delay: d.at.Sub(start.Add(time.Duration(seq) * time.Millisecond))})
	}
	return out, c.Stats()
}

// within fails unless |got-want| <= k standard errors.
func within(t *testing.T, what string, got, want, stderr, k float64) {
	t.Helper()
	if math.Abs(got-want) > k*stderr {
		t.Errorf("%s = %.5g, want %.5g ± %.3g (%g standard errors of %.3g)", what, got, want, k*stderr, k, stderr)
	} else {
		t.Logf("%s = %.5g (want %.5g ± %.3g)", what, got, want, k*stderr)
	}
}

// The measured loss, duplication and reordering rates and the latency
// distribution match the bad Wi-Fi settings within statistical bounds
// (five standard errors: a correct simulator fails one run in millions),
// both ways.
func TestDatagramStatistics(t *testing.T) {
	s := badWiFi(t)
	const n = 20000
	for _, send := range []bool{false, true} {
		t.Run(fmt.Sprintf("send=%v", send), func(t *testing.T) {
			l := s.Recv
			if send {
				l = s.Send
			}
			arr, st := datagramRun(t, s, 7, n, send)
			dir := st.Recv
			if send {
				dir = st.Send
			}
			seen := map[int]int{}
			var normal, held []float64
			inversions, top := 0, -1
			lo, hi := l.Latency-l.Jitter, l.Latency+l.Jitter
			rd := l.ReorderDelay
			for _, a := range arr {
				seen[a.seq]++
				if a.seq < top {
					inversions++
				}
				top = max(top, a.seq)
				switch {
				case a.delay >= lo && a.delay <= hi:
					normal = append(normal, float64(a.delay))
				case a.delay >= lo+rd && a.delay <= hi+rd:
					held = append(held, float64(a.delay-rd))
				default:
					t.Fatalf("datagram %d delayed %v: neither in [%v, %v] nor held back %v more", a.seq, a.delay, lo, hi, rd)
				}
			}
			lost := n - len(seen)
			dups := 0
			for _, k := range seen {
				if k > 2 {
					t.Fatalf("a datagram came %d times", k)
				}
				dups += k - 1
			}
			binom := func(p float64, m int) float64 { return math.Sqrt(p * (1 - p) / float64(m)) }
			within(t, "loss rate", float64(lost)/n, l.Loss, binom(l.Loss, n), 5)
			kept := n - lost
			within(t, "duplicate rate", float64(dups)/float64(kept), l.Duplicate, binom(l.Duplicate, kept), 5)
			within(t, "reorder rate", float64(len(held))/float64(len(arr)), l.Reorder, binom(l.Reorder, len(arr)), 5)
			if inversions == 0 {
				t.Error("no datagram overtook another")
			}

			// Delays (the held-back ones with their extra hold taken off):
			// uniform on [L-J, L+J]: mean L, standard deviation J/√3, and an
			// even spread over six bins.
			all := append(normal, held...)
			sd := float64(l.Jitter) / math.Sqrt(3)
			mean, varc := meanVar(all)
			within(t, "mean delay (ns)", mean, float64(l.Latency), sd/math.Sqrt(float64(len(all))), 5)
			within(t, "delay sd / (J/√3)", math.Sqrt(varc)/sd, 1, math.Sqrt(0.8/float64(len(all)))/2, 5)
			bins := make([]int, 6)
			width := float64(2*l.Jitter) / 6
			for _, d := range all {
				bins[min(5, int((d-float64(lo))/width))]++
			}
			for i, b := range bins {
				within(t, fmt.Sprintf("bin %d share", i), float64(b)/float64(len(all)), 1.0/6, binom(1.0/6, len(all)), 5)
			}

			// The counters agree with what was seen.
			if dir.Dropped != uint64(lost) || dir.Duplicated != uint64(dups) || dir.Reordered != uint64(len(held)) || dir.Delayed != uint64(len(arr)) {
				t.Errorf("stats %+v; saw %d lost, %d duplicated, %d held back, %d delivered", dir, lost, dups, len(held), len(arr))
			}
			if dir.InFlight != 0 || dir.InFlightBytes != 0 {
				t.Errorf("stats say %d items (%d bytes) still in flight", dir.InFlight, dir.InFlightBytes)
			}
			if d := time.Duration(mean); dir.AvgDelay() < d || dir.AvgDelay() > d+time.Duration(2*l.Reorder*float64(rd)) {
				t.Errorf("average delay in the stats %v, measured %v", dir.AvgDelay(), d)
			}
		})
	}
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// The same seed and the same traffic give the same drops and delays; a
// different seed does not.
func TestDeterministicUnderSeed(t *testing.T) {
	s := badWiFi(t)
	a, _ := datagramRun(t, s, 42, 2000, false)
	b, _ := datagramRun(t, s, 42, 2000, false)
	c, _ := datagramRun(t, s, 43, 2000, false)
	if !slices.Equal(a, b) {
		t.Fatal("two runs with seed 42 differ")
	}
	if slices.Equal(a, c) {
		t.Fatal("seeds 42 and 43 gave the same run")
	}
	sa, _ := datagramRun(t, s, 42, 2000, true)
	sb, _ := datagramRun(t, s, 42, 2000, true)
	if !slices.Equal(sa, sb) {
		t.Fatal("two runs with seed 42 differ (send)")
	}
}

// streamSetup wraps a recorder's Protocol in a simulated connection over a
// fake transport.
func streamSetup(s netsim.Settings) (*fakeNet, *netsim.Conditions, core.Protocol, *recorder, *fakeTransport) {
	fn := newFakeNet()
	c := netsim.New(fn, s, 1)
	rec := &recorder{n: fn}
	p := c.WrapProtocol(rec)
	ft := &fakeTransport{n: fn}
	p.ConnectionMade(ft)
	return fn, c, p, rec, ft
}

// Streams keep TCP's contract: every byte, in order, none twice, and the
// end of stream after the last byte. Chunks sent far enough apart are each
// delayed by the latency and jitter (uniform, mean L); dense ones never
// overtake each other.
func TestStreamOrderAndLatency(t *testing.T) {
	s := badWiFi(t)
	s.Recv.Bandwidth, s.Send.Bandwidth = 0, 0
	l := s.Recv

	t.Run("sparse", func(t *testing.T) {
		fn, _, p, rec, _ := streamSetup(s)
		const n = 2000
		gap := 100 * time.Millisecond // > 2×jitter: no chunk waits for another
		start := fn.now
		var sent []byte
		for i := range n {
			b := fmt.Appendf(nil, "chunk %d;", i)
			sent = append(sent, b...)
			p.DataReceived(b)
			fn.advance(gap)
		}
		p.ConnectionLost(core.ErrConnectionDone)
		lostSent := fn.now
		fn.advance(time.Second)
		if !bytes.Equal(rec.all, sent) {
			t.Fatal("the bytes received differ from those sent")
		}
		var ds []float64
		for i, c := range rec.chunks {
			d := c.at.Sub(start.Add(time.Duration(i) * gap))
			if d < l.Latency-l.Jitter || d > l.Latency+l.Jitter {
				t.Fatalf("chunk %d delayed %v", i, d)
			}
			ds = append(ds, float64(d))
		}
		mean, _ := meanVar(ds)
		within(t, "mean delay (ns)", mean, float64(l.Latency), float64(l.Jitter)/math.Sqrt(3*n), 5)
		if !errors.Is(rec.lost, core.ErrConnectionDone) || rec.lostAt.Before(rec.chunks[n-1].at) || rec.lostAt.Sub(lostSent) < l.Latency-l.Jitter {
			t.Fatalf("ConnectionLost(%v) at %v, last chunk at %v", rec.lost, rec.lostAt.Sub(start), rec.chunks[n-1].at.Sub(start))
		}
	})

	t.Run("dense", func(t *testing.T) {
		fn, _, p, rec, _ := streamSetup(s)
		var sent []byte
		for i := range 3000 {
			b := fmt.Appendf(nil, "%d,", i)
			sent = append(sent, b...)
			p.DataReceived(b)
			fn.advance(time.Millisecond / 4)
		}
		p.ConnectionLost(core.ErrConnectionReset)
		fn.advance(time.Second)
		if !bytes.Equal(rec.all, sent) {
			t.Fatal("bytes lost, duplicated or reordered")
		}
		for i := 1; i < len(rec.chunks); i++ {
			if rec.chunks[i].at.Before(rec.chunks[i-1].at) {
				t.Fatal("deliveries out of time order")
			}
		}
		if !errors.Is(rec.lost, core.ErrConnectionReset) {
			t.Fatalf("ConnectionLost(%v)", rec.lost)
		}
	})

	t.Run("send", func(t *testing.T) {
		fn, c, _, rec, ft := streamSetup(s)
		start := fn.now
		var sent []byte
		for i := range 500 {
			b := fmt.Appendf(nil, "w%d;", i)
			sent = append(sent, b...)
			if n, err := rec.t.Write(b); n != len(b) || err != nil {
				t.Fatalf("Write: %d, %v", n, err)
			}
			fn.advance(time.Millisecond)
		}
		if err := rec.t.LoseConnection(); err != nil {
			t.Fatal(err)
		}
		if _, err := rec.t.Write([]byte("late")); !errors.Is(err, core.ErrClosed) {
			t.Fatalf("Write after LoseConnection: %v", err)
		}
		if ft.closed {
			t.Fatal("closed before the bytes written ahead went through")
		}
		fn.advance(time.Second)
		if !bytes.Equal(ft.all, sent) || !ft.closed || ft.lostAt.Before(ft.writes[len(ft.writes)-1].at) {
			t.Fatalf("sent %d bytes of %d, closed %v", len(ft.all), len(sent), ft.closed)
		}
		if d := ft.writes[0].at.Sub(start); d < l.Latency-l.Jitter || d > l.Latency+l.Jitter {
			t.Fatalf("first write delayed %v", d)
		}
		if st := c.Stats().Send; st.Delayed != 501 || st.InFlight != 0 {
			t.Fatalf("send stats %+v", st)
		}
	})
}

// FlushNow sends what is held on the way out at once, in order, a close
// after the bytes written before it: for a shutdown that closes the
// reactor's connections right after the goodbyes are written.
func TestFlushNow(t *testing.T) {
	s := badWiFi(t)
	s.Send.Loss, s.Send.Duplicate = 0, 0
	fn, c, _, rec, ft := streamSetup(s)
	pp, err := c.ListenUDP("127.0.0.1:5000", rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if _, err := rec.t.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	_ = rec.t.LoseConnection()
	_ = pp.Write([]byte("goodbye"))
	fn.advance(time.Millisecond)
	sent := &pp.(*netsim.Port).Underlying().(*fakePort).sent
	if len(ft.writes) != 0 || ft.closed || len(*sent) != 0 {
		t.Fatal("sent before its time")
	}
	c.FlushNow()
	if string(ft.all) != "abc" || !ft.closed || ft.lostAt != fn.now {
		t.Fatalf("after FlushNow: sent %q, closed %v", ft.all, ft.closed)
	}
	if len(*sent) != 1 || string((*sent)[0].data) != "goodbye" {
		t.Fatalf("datagrams sent: %v", *sent)
	}
	fn.advance(time.Second)
	if string(ft.all) != "abc" {
		t.Fatalf("sent again: %q", ft.all)
	}
	if st := c.Stats().Send; st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With a bandwidth cap, a burst takes its size divided by the rate to go
// through, plus the latency.
func TestStreamBandwidth(t *testing.T) {
	s := badWiFi(t) // 250 kB/s
	fn, _, _, rec, ft := streamSetup(s)
	start := fn.now
	chunk := make([]byte, 10_000)
	for range 100 {
		if _, err := rec.t.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fn.advance(10 * time.Second)
	if len(ft.writes) != 100 {
		t.Fatalf("%d writes arrived", len(ft.writes))
	}
	l := s.Send
	for _, k := range []int{0, 49, 99} {
		tx := time.Duration(k+1) * 10_000 * time.Second / time.Duration(l.Bandwidth)
		d := ft.writes[k].at.Sub(start)
		// Later chunks can also wait for an earlier one's jitter.
		if d < tx+l.Latency-l.Jitter || d > tx+l.Latency+l.Jitter {
			t.Errorf("chunk %d arrived after %v, want %v + %v ± %v", k, d, tx, l.Latency, l.Jitter)
		}
	}
}

// A framed protocol behind the simulator still stops between messages
// when the frame's budget is spent, and gets the rest in a later callback.
func TestStreamPartialDelivery(t *testing.T) {
	s := netsim.Settings{Recv: netsim.Link{Latency: 10 * time.Millisecond}}
	fn := newFakeNet()
	c := netsim.New(fn, s, 1)
	var got []string
	h := &handler{onMsg: func(b []byte) { got = append(got, string(b)) }}
	p := c.WrapProtocol(framing.NewProtocol(h, 0)).(core.PartialProtocol)
	p.ConnectionMade(&fakeTransport{n: fn})
	var data []byte
	for i := range 10 {
		data = framing.Append(data, fmt.Appendf(nil, "m%d", i))
	}
	spent := false
	if n := p.DataReceivedPartial(data, func() bool { return spent }); n != len(data) {
		t.Fatalf("the simulator took %d of %d bytes", n, len(data))
	}
	spent = true // the budget is gone: one message per callback
	fired := fn.fired
	fn.run(fn.now.Add(10 * time.Millisecond))
	if len(got) != 10 || got[9] != "m9" {
		t.Fatalf("got %q", got)
	}
	if n := fn.fired - fired; n != 10 {
		t.Fatalf("10 messages took %d timer callbacks with the budget spent, want one each", n)
	}
	// With budget to spare, the whole chunk goes in one callback.
	spent = false
	_ = p.DataReceivedPartial(data, func() bool { return spent })
	fired = fn.fired
	fn.advance(10 * time.Millisecond)
	if len(got) != 20 || fn.fired-fired != 1 {
		t.Fatalf("%d messages in %d callbacks", len(got)-10, fn.fired-fired)
	}
}

type handler struct {
	onMsg func([]byte)
}

func (h *handler) ConnectionMade(core.Transport)  {}
func (h *handler) MessageReceived(b []byte) error { h.onMsg(b); return nil }
func (h *handler) ConnectionLost(error)           {}

// A connection or port with settings of its own keeps them; the others
// follow the Conditions, including a change at run time.
func TestOverrideAndSet(t *testing.T) {
	fn := newFakeNet()
	c := netsim.New(fn, netsim.Settings{}, 1)
	a, b := &recorder{n: fn}, &recorder{n: fn}
	pa, porta := c.WrapDatagramProtocol(a)
	pb, _ := c.WrapDatagramProtocol(b)
	drop := netsim.Settings{Name: "drop", Recv: netsim.Link{Loss: 1}}
	if !netsim.Override(porta, &drop) {
		t.Fatal("Override refused a Port")
	}
	pa.DatagramReceived([]byte("x"), from)
	pb.DatagramReceived([]byte("x"), from)
	if len(a.chunks) != 0 || len(b.chunks) != 1 {
		t.Fatalf("own settings: %d delivered (want 0); Conditions' (off): %d delivered at once (want 1)", len(a.chunks), len(b.chunks))
	}
	c.Set(netsim.Settings{Recv: netsim.Link{Latency: 20 * time.Millisecond}})
	pb.DatagramReceived([]byte("y"), from)
	if len(b.chunks) != 1 {
		t.Fatal("delivered at once after Set")
	}
	fn.advance(20 * time.Millisecond)
	if len(b.chunks) != 2 {
		t.Fatal("not delivered after the new latency")
	}
	netsim.Override(porta, nil)
	pa.DatagramReceived([]byte("z"), from)
	fn.advance(20 * time.Millisecond)
	if len(a.chunks) != 1 {
		t.Fatal("the port did not go back to the Conditions' settings")
	}
	if netsim.Override(&fakeTransport{}, nil) {
		t.Fatal("Override took a transport Conditions did not make")
	}
}

// Closing a port drops what it holds either way; an abort drops what a
// connection holds and its ConnectionLost comes at once.
func TestCloseDiscards(t *testing.T) {
	s := badWiFi(t)
	s.Recv.Loss, s.Send.Loss, s.Recv.Duplicate = 0, 0, 0
	fn := newFakeNet()
	c := netsim.New(fn, s, 1)
	rec := &recorder{n: fn}
	pp, err := c.ListenUDP("127.0.0.1:5000", rec)
	if err != nil {
		t.Fatal(err)
	}
	proto, port := c.WrapDatagramProtocol(rec)
	port.Attach(&fakePort{n: fn})
	proto.DatagramReceived([]byte("in"), from)
	_ = port.Write([]byte("out"))
	_ = pp.Write([]byte("out"))
	_ = port.Close()
	_ = pp.Close()
	fn.advance(time.Second)
	if len(rec.chunks) != 0 || len(pp.(*netsim.Port).Underlying().(*fakePort).sent) != 0 {
		t.Fatal("a closed port delivered or sent what it held")
	}
	if err := port.Write([]byte("x")); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Write on a closed port: %v", err)
	}
	st := c.Stats()
	if st.Recv.Discarded != 1 || st.Send.Discarded != 2 || st.Total().InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}

	fn2, _, p, rec2, ft := streamSetup(s)
	p.DataReceived([]byte("held"))
	_, _ = rec2.t.Write([]byte("held too"))
	_ = rec2.t.AbortConnection()
	p.ConnectionLost(core.ErrAborted)
	if !errors.Is(rec2.lost, core.ErrAborted) || len(rec2.chunks) != 0 {
		t.Fatalf("after an abort: lost %v, %d chunks", rec2.lost, len(rec2.chunks))
	}
	fn2.advance(time.Second)
	if len(rec2.chunks) != 0 || len(ft.writes) != 0 {
		t.Fatal("an aborted connection delivered or sent what it held")
	}
}

func TestParse(t *testing.T) {
	for _, name := range []string{"off", "lan", "wifi", "good-wifi", "4g", "LTE", "badwifi", "bad-wifi"} {
		if _, err := netsim.Parse(name); err != nil {
			t.Errorf("Parse(%q): %v", name, err)
		}
	}
	s, err := netsim.Parse("delay=40ms,jitter=10ms,loss=2%,dup=0.005,reorder=1%,reorder-delay=30ms,bw=500k,send.loss=0")
	if err != nil {
		t.Fatal(err)
	}
	want := netsim.Link{Latency: 40 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.02, Duplicate: 0.005,
		Reorder: 0.01, ReorderDelay: 30 * time.Millisecond, Bandwidth: 500_000}
	if s.Recv != want || s.Send.Loss != 0 || s.Send.Latency != want.Latency || s.Name != "custom" {
		t.Fatalf("got %+v", s)
	}
	s, err = netsim.Parse("4g,loss=10%")
	if err != nil || s.Recv.Loss != 0.1 || s.Recv.Latency != 30*time.Millisecond {
		t.Fatalf("preset with an override: %+v, %v", s, err)
	}
	back, err := netsim.Parse(s.String())
	if err != nil || back != s {
		t.Fatalf("Parse(%q) = %+v, %v; want %+v", s.String(), back, err, s)
	}
	for _, bad := range []string{"moon", "loss=150%", "delay=-1s", "jitter=abc", "bogus=1", "loss"} {
		if _, err := netsim.Parse(bad); !errors.Is(err, core.ErrInvalidArgument) {
			t.Errorf("Parse(%q): %v, want ErrInvalidArgument", bad, err)
		}
	}
	if p := netsim.Presets(); p[0].Name != "off" || !p[0].Idle() || p[4].Name != "badwifi" || p[4].RTT() != 150*time.Millisecond {
		t.Fatalf("presets %v", p)
	}
	if netsim.Next("badwifi").Name != "off" || netsim.Next("off").Name != "lan" {
		t.Fatal("Next does not cycle")
	}
}
