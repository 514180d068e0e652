package session

import (
	"bytes"
	"errors"
	"testing"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/framing"
)

func TestWireRoundTrips(t *testing.T) {
	tok := newToken()
	h := hello{version: wireVersion, app: []byte("game/3"), resume: true, id: 300, token: tok, data: []byte("name")}
	got, err := decodeHello(appendHello(nil, h))
	if err != nil || got.version != h.version || string(got.app) != "game/3" || !got.resume || got.id != 300 || got.token != tok || string(got.data) != "name" {
		t.Fatalf("hello %+v, %v", got, err)
	}
	w := welcome{id: 70000, token: tok, resumed: true, udpPort: 7777, idleMs: 10000, data: []byte{1, 2}}
	gw, err := decodeWelcome(appendWelcome(nil, w))
	if err != nil || gw.id != w.id || gw.token != tok || !gw.resumed || gw.udpPort != 7777 || gw.idleMs != 10000 || !bytes.Equal(gw.data, w.data) {
		t.Fatalf("welcome %+v, %v", gw, err)
	}
	long := string(bytes.Repeat([]byte("é"), 100)) + "\xff"
	bye := decodeBye(appendBye(nil, ReasonKicked, long))
	if bye.Reason != ReasonKicked || len(bye.Text) > maxByeText || !errors.Is(bye, ErrKicked) || errors.Is(bye, ErrServerFull) {
		t.Fatalf("bye %+v", bye)
	}
	if id, tk, ok := decodeBind(appendBind(nil, 5, tok)); !ok || id != 5 || tk != tok {
		t.Fatal("bind")
	}
	if _, _, ok := decodeBind(append(appendBind(nil, 5, tok), 0)); ok {
		t.Fatal("a bind with a trailing byte")
	}
	if v, ok := decodePing(appendPing(nil, msgPing, -12345)); !ok || v != -12345 {
		t.Fatal("ping")
	}
	if _, err := decodeHello([]byte{msgHello, wireVersion, 200}); !errors.Is(err, ErrProtocol) || !errors.Is(err, core.ErrBadInput) {
		t.Fatalf("a truncated hello: %v", err)
	}
	if b := (&ByeError{Reason: ReasonTimeout}); !errors.Is(b, ErrIdleTimeout) || !errors.Is(b, core.ErrTimeout) {
		t.Fatal("a timeout bye is not a timeout")
	}
	if b := (&ByeError{Reason: 200}); errors.Unwrap(b) != nil || b.Error() != "session: Reason(200)" {
		t.Fatalf("an unknown reason: %v", b)
	}
	for r := ReasonQuit; r <= ReasonProtocol; r++ {
		if (&ByeError{Reason: r}).sentinel() == nil || r.String() == "" {
			t.Errorf("reason %d has no sentinel", r)
		}
	}
}

// The encoder frames a payload made by begin in place, one made elsewhere
// by copying, and one that outgrew the buffer by copying into a larger one.
func TestEncoder(t *testing.T) {
	var e encoder
	check := func(payload []byte) {
		t.Helper()
		want := framing.Append(nil, payload)
		if got := e.frame(payload); !bytes.Equal(got, want) {
			t.Fatalf("frame %x, want %x", got, want)
		}
	}
	check([]byte{3, 1, 2})
	b := append(e.begin(7), "abc"...)
	check(b)
	big := e.begin(8)
	for i := range 5000 {
		big = append(big, byte(i))
	}
	check(big)
	small := append(e.begin(9), 1)
	check(small)
	if n := testing.AllocsPerRun(100, func() { e.frame(append(e.begin(1), 1, 2, 3)) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// FuzzDecode: no input makes a decoder panic, and what decodes re-encodes
// to something that decodes the same.
func FuzzDecode(f *testing.F) {
	tok := newToken()
	f.Add(appendHello(nil, hello{version: wireVersion, app: []byte("a"), resume: true, id: 9, token: tok, data: []byte("x")}))
	f.Add(appendWelcome(nil, welcome{id: 1, token: tok, udpPort: 1, idleMs: 5}))
	f.Add(appendBye(nil, ReasonFull, "full"))
	f.Add(appendBind(nil, 1, tok))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) == 0 {
			return
		}
		if h, err := decodeHello(p); err == nil {
			h2, err := decodeHello(appendHello(nil, h))
			if err != nil || h2.id != h.id || h2.token != h.token || !bytes.Equal(h2.app, h.app) || !bytes.Equal(h2.data, h.data) {
				t.Fatalf("hello %+v re-decoded as %+v, %v", h, h2, err)
			}
		}
		if w, err := decodeWelcome(p); err == nil {
			w2, err := decodeWelcome(appendWelcome(nil, w))
			if err != nil || w2.id != w.id || w2.udpPort != w.udpPort || !bytes.Equal(w2.data, w.data) {
				t.Fatalf("welcome %+v re-decoded as %+v, %v", w, w2, err)
			}
		}
		_ = decodeBye(p).Error()
		decodeBind(p)
		decodePing(p)
	})
}
