package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/threadedselect/reactor/core"
)

func collect(t *testing.T, d *Decoder, chunks ...[]byte) ([][]byte, error) {
	t.Helper()
	var out [][]byte
	for _, c := range chunks {
		if err := d.Feed(c, func(p []byte) error {
			out = append(out, append([]byte(nil), p...))
			return nil
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestRoundTripAnySplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var msgs [][]byte
	var stream []byte
	for i := 0; i < 500; i++ {
		m := make([]byte, rng.IntN(3000))
		for j := range m {
			m[j] = byte(rng.Uint32())
		}
		msgs = append(msgs, m)
		stream = Append(stream, m)
	}
	for trial := 0; trial < 50; trial++ {
		d := NewDecoder(4096)
		var chunks [][]byte
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(5000))
			if trial%5 == 0 {
				n = 1 // byte by byte
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		got, err := collect(t, d, chunks...)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(msgs) {
			t.Fatalf("trial %d: %d messages, want %d", trial, len(got), len(msgs))
		}
		for i := range got {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Fatalf("trial %d: message %d differs", trial, i)
			}
		}
		if d.Buffered() != 0 || d.Messages() != uint64(len(msgs)) {
			t.Fatalf("buffered %d, messages %d", d.Buffered(), d.Messages())
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		stream []byte
		want   error
		max    int
	}{
		{"over the limit", Append(nil, make([]byte, 101)), ErrTooLarge, 0},
		{"huge prefix", binary.AppendUvarint(nil, 1<<40), ErrTooLarge, 0},
		{"incomplete huge prefix", []byte{0xff, 0xff, 0xff}, ErrTooLarge, 0},
		{"overflowing uvarint", bytes.Repeat([]byte{0xff}, 11), ErrMalformed, 1 << 62},
		{"non-minimal prefix", []byte{0x85, 0x00, 1, 2, 3, 4, 5}, ErrMalformed, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				max := 100
				if c.max != 0 {
					max = c.max
				}
				d := NewDecoder(max)
				chunks := [][]byte{c.stream}
				if split {
					chunks = nil
					for i := range c.stream {
						chunks = append(chunks, c.stream[i:i+1])
					}
				}
				_, err := collect(t, d, chunks...)
				if !errors.Is(err, c.want) || !errors.Is(err, core.ErrBadInput) {
					t.Fatalf("split=%v: %v, want %v and ErrBadInput", split, err, c.want)
				}
				if err2 := d.Feed([]byte{0}, func([]byte) error { return nil }); !errors.Is(err2, c.want) {
					t.Fatalf("error not sticky: %v", err2)
				}
			}
		})
	}
}

func TestZeroCopyForWholeFrames(t *testing.T) {
	d := NewDecoder(0)
	stream := Append(nil, []byte("hello"))
	var p []byte
	d.Feed(stream, func(b []byte) error { p = b; return nil })
	if &p[0] != &stream[1] {
		t.Fatal("a whole frame was copied")
	}
	allocs := testing.AllocsPerRun(100, func() {
		d.Feed(stream, func([]byte) error { return nil })
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Feed of whole frames", allocs)
	}
}

func TestHandlerErrorStops(t *testing.T) {
	d := NewDecoder(0)
	stream := Append(Append(nil, []byte("a")), []byte("b"))
	stop := errors.New("stop")
	n := 0
	err := d.Feed(stream, func([]byte) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d messages", err, n)
	}
}

func TestSize(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 1 << 20} {
		if got := Size(n); got != len(Append(nil, make([]byte, n))) {
			t.Fatalf("Size(%d) = %d", n, got)
		}
	}
}

// TestFeedUntilStopsAtMessageBoundary: FeedUntil hands out at least one
// message, stops when told to, and the bytes it did not consume, fed
// again, give the rest of the messages: whatever the split, the same
// messages in the same order.
func TestFeedUntilStopsAtMessageBoundary(t *testing.T) {
	var stream []byte
	var want []string
	for i := 0; i < 50; i++ {
		m := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i*7%40)
		want = append(want, string(m))
		stream = Append(stream, m)
	}
	for every := 1; every <= 5; every++ {
		for split := 1; split < len(stream); split += 17 {
			d := NewDecoder(0)
			var got []string
			calls := 0
			stop := func() bool { calls++; return calls%every == 0 }
			for _, part := range [][]byte{stream[:split], stream[split:]} {
				for len(part) > 0 {
					before := len(got)
					n, err := d.FeedUntil(part, func(p []byte) error { got = append(got, string(p)); return nil }, stop)
					if err != nil {
						t.Fatal(err)
					}
					if n < len(part) && len(got) == before {
						t.Fatalf("FeedUntil stopped after consuming %d bytes without a message", n)
					}
					part = part[n:]
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("every=%d split=%d: got %d messages, want %d", every, split, len(got), len(want))
			}
		}
	}
}
