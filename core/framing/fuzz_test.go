package framing

import (
	"bytes"
	"errors"
	"testing"

	"github.com/threadedselect/reactor/core"
)

// FuzzDecoder feeds arbitrary bytes, split at an arbitrary point: the
// decoder never panics, never hands out a payload over the limit, fails
// only with its own errors, and agrees with itself however the stream is
// split.
func FuzzDecoder(f *testing.F) {
	f.Add(Append(Append(nil, []byte("hello")), []byte("world")), uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(1))
	f.Add([]byte{0x80, 0x00}, uint8(0))
	f.Add(Append(nil, make([]byte, 300)), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		const max = 256
		run := func(chunks ...[]byte) ([][]byte, error) {
			d := NewDecoder(max)
			var out [][]byte
			for _, c := range chunks {
				if err := d.Feed(c, func(p []byte) error {
					if len(p) > max {
						t.Fatalf("payload of %d bytes over the limit %d", len(p), max)
					}
					out = append(out, append([]byte(nil), p...))
					return nil
				}); err != nil {
					if !errors.Is(err, core.ErrBadInput) {
						t.Fatalf("unexpected error %v", err)
					}
					return out, err
				}
			}
			return out, nil
		}
		whole, err1 := run(stream)
		c := int(cut) % (len(stream) + 1)
		split, err2 := run(stream[:c], stream[c:])
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole: %v, split at %d: %v", err1, c, err2)
		}
		if err1 == nil {
			if len(whole) != len(split) {
				t.Fatalf("%d messages whole, %d split", len(whole), len(split))
			}
			for i := range whole {
				if !bytes.Equal(whole[i], split[i]) {
					t.Fatalf("message %d differs", i)
				}
			}
			// Re-encoding what was decoded gives back a prefix of the input.
			var re []byte
			for _, m := range whole {
				re = Append(re, m)
			}
			if !bytes.HasPrefix(stream, re) {
				t.Fatal("decoded messages do not re-encode to the stream")
			}
		}
	})
}
