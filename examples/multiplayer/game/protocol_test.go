package game

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

var testToken = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff}

// sampleMessages returns valid messages of every type, with edge values.
// The fuzz targets seed their corpus from them.
func sampleMessages() []Message {
	return []Message{
		Hello{Version: ProtocolVersion, Name: "alice"},
		Hello{Version: math.MaxUint16, Name: "Zoë 🙂 x"},
		Welcome{PlayerID: 7, Token: testToken, TickRate: DefaultTickRate, ArenaW: ArenaW, ArenaH: ArenaH},
		Welcome{PlayerID: math.MaxUint16, TickRate: 255, ArenaW: MaxArenaSize, ArenaH: 1},
		Reject{Reason: "server full"},
		Reject{},
		Input{PlayerID: 7, Seq: 1, Buttons: ButtonUp | ButtonLeft},
		Input{PlayerID: math.MaxUint16, Seq: math.MaxUint32, Buttons: ButtonMask},
		Snapshot{Tick: 1234, LastInput: 99, Players: []PlayerState{
			{ID: 1, X: PlayerRadius, Y: PlayerRadius, Facing: FacingDown},
			{ID: 300, X: 947.5625, Y: 100.25, Facing: FacingUpRight},
			{ID: math.MaxUint16, X: 65535.0 / 16, Y: 0, Facing: NumFacings - 1},
		}},
		Snapshot{},
		PlayerInfo{ID: 3, Name: "bob"},
		PlayerLeft{ID: 3},
		Ping{T: 1700000000123456789},
		Ping{T: -1},
		Pong{T: 42},
		Pong{T: math.MinInt64},
		Goodbye{},
		Shutdown{},
		UDPBind{PlayerID: 7, Token: testToken},
	}
}

// encodeTyped encodes m with its type's own Append function.
func encodeTyped(m Message) []byte {
	switch m := m.(type) {
	case Hello:
		return AppendHello(nil, m)
	case Welcome:
		return AppendWelcome(nil, m)
	case Reject:
		return AppendReject(nil, m)
	case Input:
		return AppendInput(nil, m)
	case Snapshot:
		b, _ := AppendSnapshot(nil, m)
		return b
	case PlayerInfo:
		return AppendPlayerInfo(nil, m)
	case PlayerLeft:
		return AppendPlayerLeft(nil, m)
	case Ping:
		return AppendPing(nil, m)
	case Pong:
		return AppendPong(nil, m)
	case Goodbye:
		return AppendGoodbye(nil, m)
	case Shutdown:
		return AppendShutdown(nil, m)
	case UDPBind:
		return AppendUDPBind(nil, m)
	}
	panic("unknown message type")
}

// equalMessages compares messages, treating a nil and an empty Players slice
// alike.
func equalMessages(a, b Message) bool {
	sa, okA := a.(Snapshot)
	sb, okB := b.(Snapshot)
	if okA && okB && len(sa.Players) == 0 && len(sb.Players) == 0 {
		sa.Players, sb.Players = nil, nil
		return reflect.DeepEqual(sa, sb)
	}
	return reflect.DeepEqual(a, b)
}

func TestRoundTrip(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			seen[m.Type()] = true
			b := Append(nil, m)
			if typed := encodeTyped(m); !bytes.Equal(b, typed) {
				t.Fatalf("Append = %x, typed encoder = %x", b, typed)
			}
			if MsgType(b[0]) != m.Type() {
				t.Fatalf("type byte %d, want %d", b[0], m.Type())
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%x): %v", b, err)
			}
			if !equalMessages(got, m) {
				t.Fatalf("Decode(Append(%#v)) = %#v", m, got)
			}
		})
	}
	for typ := MsgHello; typ <= MsgUDPBind; typ++ {
		if !seen[typ] {
			t.Errorf("no sample message of type %v", typ)
		}
	}
}

// TestWireFormat pins the exact bytes, so that an accidental change of the
// format shows up here rather than between two builds.
func TestWireFormat(t *testing.T) {
	tests := []struct {
		m    Message
		want []byte
	}{
		{Hello{Version: 1, Name: "alice"}, []byte{1, 1, 5, 'a', 'l', 'i', 'c', 'e'}},
		{Welcome{PlayerID: 300, Token: testToken, TickRate: 30, ArenaW: 960, ArenaH: 540},
			append(append([]byte{2, 0xac, 0x02}, testToken[:]...), 30, 0xc0, 0x07, 0x9c, 0x04)},
		{Reject{Reason: "full"}, []byte{3, 4, 'f', 'u', 'l', 'l'}},
		{Input{PlayerID: 7, Seq: 300, Buttons: ButtonUp | ButtonRight}, []byte{4, 7, 0xac, 0x02, 0x09}},
		{Snapshot{Tick: 5, LastInput: 3, Players: []PlayerState{{ID: 2, X: 12.5, Y: 1.0625, Facing: FacingDown}}},
			[]byte{5, 5, 3, 1, 2, 200, 0, 17, 0, 2}},
		{PlayerInfo{ID: 1, Name: "b"}, []byte{6, 1, 1, 'b'}},
		{PlayerLeft{ID: 1}, []byte{7, 1}},
		{Ping{T: -1}, []byte{8, 1}},
		{Pong{T: 1}, []byte{9, 2}},
		{Goodbye{}, []byte{10}},
		{Shutdown{}, []byte{11}},
		{UDPBind{PlayerID: 1, Token: testToken}, append([]byte{12, 1}, testToken[:]...)},
	}
	for _, tt := range tests {
		if got := Append(nil, tt.m); !bytes.Equal(got, tt.want) {
			t.Errorf("Append(%#v) = %x, want %x", tt.m, got, tt.want)
		}
	}
}

// repeat returns n copies of b.
func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeErrors(t *testing.T) {
	sentinels := []error{ErrUnknownType, ErrTruncated, ErrTrailingBytes, ErrTooLong, ErrBadName, ErrBadValue}
	player := []byte{1, 0, 0, 0, 0, 0} // id 1 at (0, 0) facing right
	tests := []struct {
		name    string
		payload []byte
		want    error
		msg     string // substring of the error text
	}{
		{"empty", nil, ErrTruncated, "game: decode: truncated: empty payload"},
		{"type 0", []byte{0}, ErrUnknownType, "MsgType(0): unknown message type"},
		{"type 13", []byte{13}, ErrUnknownType, "MsgType(13)"},
		{"type 255", []byte{255, 1, 2}, ErrUnknownType, "MsgType(255)"},
		{"hello no fields", []byte{1}, ErrTruncated, "Hello.version: truncated"},
		{"hello name cut", []byte{1, 1, 5, 'a'}, ErrTruncated, "Hello.name: truncated"},
		{"hello name 17 bytes", cat([]byte{1, 1, 17}, repeat('a', 17)), ErrTooLong, "Hello.name: too long"},
		{"hello huge name length", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrTooLong, "Hello.name"},
		{"hello empty name", []byte{1, 1, 0}, ErrBadName, "Hello.name: bad player name: empty"},
		{"hello control char", []byte{1, 1, 2, 'a', 7}, ErrBadName, "unprintable"},
		{"hello DEL", []byte{1, 1, 2, 'a', 0x7f}, ErrBadName, "unprintable"},
		{"hello invalid UTF-8", []byte{1, 1, 2, 'a', 0xff}, ErrBadName, "invalid UTF-8"},
		{"hello leading space", []byte{1, 1, 2, ' ', 'a'}, ErrBadName, "space"},
		{"hello blank", []byte{1, 1, 1, ' '}, ErrBadName, "space"},
		{"hello version too big", []byte{1, 0x80, 0x80, 0x04, 1, 'a'}, ErrBadValue, "Hello.version: bad value: out of range"},
		{"hello non-minimal version", []byte{1, 0x81, 0x00, 1, 'a'}, ErrBadValue, "not minimally encoded"},
		{"hello trailing", []byte{1, 1, 1, 'a', 0}, ErrTrailingBytes, "trailing"},
		{"welcome cut token", []byte{2, 1, 1, 2, 3}, ErrTruncated, "Welcome.token"},
		{"welcome tick rate 0", cat([]byte{2, 1}, testToken[:], []byte{0, 1, 1}), ErrBadValue, "tick_rate"},
		{"welcome arena 0", cat([]byte{2, 1}, testToken[:], []byte{30, 0, 1}), ErrBadValue, "arena_w"},
		{"welcome arena 4096", cat([]byte{2, 1}, testToken[:], []byte{30, 1, 0x80, 0x20}), ErrBadValue, "arena_h"},
		{"reject invalid UTF-8", []byte{3, 1, 0xc0}, ErrBadValue, "Reject.reason: bad value: invalid UTF-8"},
		{"reject too long", cat([]byte{3, 129, 1}, repeat('x', 129)), ErrTooLong, "Reject.reason"},
		{"input undefined button", []byte{4, 1, 1, 0x10}, ErrBadValue, "Input.buttons"},
		{"input seq overflow", []byte{4, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 0}, ErrBadValue, "Input.seq"},
		{"input no buttons", []byte{4, 1, 1}, ErrTruncated, "Input.buttons"},
		{"varint overflow", cat([]byte{8}, repeat(0xff, 10), []byte{1}), ErrBadValue, "overflows"},
		{"varint cut", []byte{9, 0x80}, ErrTruncated, "Pong.t"},
		{"snapshot header cut", []byte{5, 1}, ErrTruncated, "Snapshot.last_input"},
		{"snapshot count beyond bytes", cat([]byte{5, 1, 1, 2}, player), ErrTruncated, "Snapshot.count"},
		{"snapshot count needs more bytes", cat([]byte{5, 1, 1, 1}, player[:5]), ErrTruncated, "Snapshot.count"},
		{"snapshot player cut", []byte{5, 1, 1, 1, 0xc8, 0x01, 0, 0, 0, 0}, ErrTruncated, "Snapshot.players[0].facing: truncated"},
		{"snapshot bad facing", []byte{5, 1, 1, 1, 1, 0, 0, 0, 0, 8}, ErrBadValue, "Snapshot.players[0].facing: bad value: undefined facing"},
		{"snapshot duplicate ids", cat([]byte{5, 1, 1, 2}, player, player), ErrBadValue, "players[1].id"},
		{"snapshot descending ids", cat([]byte{5, 1, 1, 2}, []byte{2, 0, 0, 0, 0, 0}, player), ErrBadValue, "not strictly increasing"},
		{"snapshot trailing", cat([]byte{5, 1, 1, 1}, player, []byte{0}), ErrTrailingBytes, "Snapshot: trailing"},
		{"snapshot too big", cat([]byte{5, 1, 1, 200}, bytes.Repeat(player, 200)), ErrTooLong, "larger than 1200"},
		{"player info bad name", []byte{6, 1, 1, '\n'}, ErrBadName, "PlayerInfo.name"},
		{"player left id overflow", []byte{7, 0x80, 0x80, 0x04}, ErrBadValue, "PlayerLeft.id"},
		{"goodbye trailing", []byte{10, 0}, ErrTrailingBytes, "Goodbye: trailing bytes"},
		{"shutdown trailing", []byte{11, 11}, ErrTrailingBytes, "Shutdown"},
		{"udp bind cut token", cat([]byte{12, 1}, testToken[:15]), ErrTruncated, "UDPBind.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.payload)
			if err == nil {
				t.Fatalf("Decode(%x) = %#v, want error", tt.payload, m)
			}
			if m != nil {
				t.Errorf("Decode returned message %#v with error", m)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %q does not match ErrMalformed", err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not match %q", err, tt.want)
			}
			matched := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					matched++
				}
			}
			if matched != 1 {
				t.Errorf("error %q matches %d specific errors, want 1", err, matched)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("error %q is not a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

// TestDecodeTruncatedAndTrailing cuts every valid sample short at every
// length, and extends it by a byte.
func TestDecodeTruncatedAndTrailing(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Append(nil, m)
		for n := range len(b) {
			if _, err := Decode(b[:n]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%v cut to %d of %d bytes: err = %v, want ErrTruncated", m.Type(), n, len(b), err)
			}
		}
		if _, err := Decode(append(b, 0)); !errors.Is(err, ErrTrailingBytes) {
			t.Errorf("%v plus a byte: err = %v, want ErrTrailingBytes", m.Type(), err)
		}
	}
}

func TestDecodeSnapshotReusesSlice(t *testing.T) {
	want := sampleMessages()[8].(Snapshot)
	b, _ := AppendSnapshot(nil, want)
	buf := make([]PlayerState, 1, 64)
	s, err := DecodeSnapshot(b, buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("DecodeSnapshot = %#v, want %#v", s, want)
	}
	if &s.Players[0] != &buf[0] {
		t.Error("DecodeSnapshot did not reuse the caller's slice")
	}
	if _, err := DecodeSnapshot(AppendGoodbye(nil, Goodbye{}), buf); !errors.Is(err, ErrBadValue) {
		t.Errorf("DecodeSnapshot(Goodbye): err = %v, want ErrBadValue", err)
	}
}

// TestNoAllocs checks that the hot paths (a server encoding snapshots, a
// client decoding them and encoding inputs) allocate nothing once their
// buffers have grown.
func TestNoAllocs(t *testing.T) {
	snap := Snapshot{Tick: 99, LastInput: 12, Players: make([]PlayerState, MaxPlayers)}
	for i := range snap.Players {
		snap.Players[i] = PlayerState{ID: uint16(i + 1), X: 100, Y: 200}
	}
	buf := make([]byte, 0, MaxSnapshotBytes)
	players := make([]PlayerState, 0, MaxPlayers)
	encoded, _ := AppendSnapshot(nil, snap)
	checks := map[string]func(){
		"AppendSnapshot": func() { buf, _ = AppendSnapshot(buf[:0], snap) },
		"DecodeSnapshot": func() {
			s, err := DecodeSnapshot(encoded, players)
			if err != nil || len(s.Players) != MaxPlayers {
				t.Fatal(err)
			}
		},
		"AppendInput": func() { buf = AppendInput(buf[:0], Input{PlayerID: 1, Seq: 1e6, Buttons: ButtonUp}) },
		"AppendHello": func() { buf = AppendHello(buf[:0], Hello{Version: 1, Name: "alice"}) },
		"AppendPing":  func() { buf = AppendPing(buf[:0], Ping{T: 123456789}) },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", name, n)
		}
	}
}

func TestSnapshotSize(t *testing.T) {
	// players returns n players with ids from first up, at positions that
	// use the full range.
	players := func(n, first int) []PlayerState {
		ps := make([]PlayerState, n)
		for i := range ps {
			ps[i] = PlayerState{ID: uint16(first + i), X: ArenaW - PlayerRadius, Y: float64(i), Facing: uint8(i) % NumFacings}
		}
		return ps
	}
	tests := []struct {
		name      string
		snap      Snapshot
		wantN     int
		wantBytes int // 0: just check the limit
	}{
		{"64 players, typical", Snapshot{Tick: 30 * 60 * 10, LastInput: 17000, Players: players(64, 1)}, 64, 392},
		{"64 players, worst case", Snapshot{Tick: math.MaxUint32, LastInput: math.MaxUint32, Players: players(64, math.MaxUint16-63)}, 64, 524},
		{"148 players, worst case", Snapshot{Tick: math.MaxUint32, LastInput: math.MaxUint32, Players: players(148, math.MaxUint16-147)}, 148, 0},
		{"149 players, worst case", Snapshot{Tick: math.MaxUint32, LastInput: math.MaxUint32, Players: players(149, math.MaxUint16-148)}, 148, 0},
		{"1000 players", Snapshot{Tick: 1, LastInput: 1, Players: players(1000, 1)}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, n := AppendSnapshot(nil, tt.snap)
			t.Logf("%d of %d players in %d bytes", n, len(tt.snap.Players), len(b))
			if tt.wantN != 0 && n != tt.wantN {
				t.Errorf("fit %d players, want %d", n, tt.wantN)
			}
			if len(b) > MaxSnapshotBytes {
				t.Errorf("%d bytes, more than MaxSnapshotBytes", len(b))
			}
			if tt.wantBytes != 0 && len(b) != tt.wantBytes {
				t.Errorf("%d bytes, want %d", len(b), tt.wantBytes)
			}
			if n < len(tt.snap.Players) {
				// One more player must not fit.
				more := tt.snap
				more.Players = tt.snap.Players[:n+1]
				if _, n2 := AppendSnapshot(nil, more); n2 != n {
					t.Errorf("stopped at %d players, but %d fit", n, n2)
				}
			}
			s, err := DecodeSnapshot(b, nil)
			if err != nil {
				t.Fatalf("DecodeSnapshot: %v", err)
			}
			if len(s.Players) != n {
				t.Fatalf("decoded %d players, want %d", len(s.Players), n)
			}
			for i, p := range s.Players {
				if want := tt.snap.Players[i]; p != want {
					t.Fatalf("player %d = %+v, want %+v", i, p, want)
				}
			}
		})
	}
}

func TestQuantize(t *testing.T) {
	tests := []struct {
		in   float64
		want uint16
	}{
		{0, 0},
		{1, 16},
		{12.5, 200},
		{1.0 / 32, 1},                 // half rounds up
		{1.0/32 - 1e-9, 0},            // below half rounds down
		{959.96875, 15360},            // 959 + 31/32 rounds up to 960
		{4095.9375, 65535},            // the largest position
		{5000, 65535},                 // clamped
		{-3, 0},                       // clamped
		{math.NaN(), 0},               // defined, not garbage
		{math.Inf(1), 65535},          // clamped
		{math.Inf(-1), 0},             // clamped
		{0.49999999999999994 / 16, 0}, // adding 0.5 and truncating would give 1
	}
	for _, tt := range tests {
		if got := quantize(tt.in); got != tt.want {
			t.Errorf("quantize(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"alice", true},
		{"Bob the Builder", true},
		{"0123456789abcdef", true},   // 16 bytes
		{"0123456789abcdefg", false}, // 17 bytes
		{"Zoë", true},
		{"日本語の名前です", false}, // 24 bytes
		{"日本語", true},
		{"🙂🙂🙂🙂", true}, // 16 bytes
		{"", false},
		{" ", false},
		{" bob", false},
		{"bob ", false},
		{"b b", true},
		{"tab\there", false},
		{"new\nline", false},
		{"nul\x00", false},
		{"\xff", false},
		{"zero\u200bwidth", false}, // format character, invisible
		{"nb\u00a0sp", false},      // only the ASCII space counts as printable space
		{"\u202eevil", false},      // right-to-left override
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidateName(%q) = %v, does not match ErrBadName", tt.name, err)
		}
	}
}

func TestAppendRejectRepairs(t *testing.T) {
	tests := []struct {
		reason, want string
	}{
		{"ok", "ok"},
		{strings.Repeat("x", 200), strings.Repeat("x", MaxReasonLen)},
		// 127 x and a 2-byte rune: the rune would end at byte 129, so it goes.
		{strings.Repeat("x", 127) + "é", strings.Repeat("x", 127)},
		{"bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		m, err := Decode(AppendReject(nil, Reject{Reason: tt.reason}))
		if err != nil {
			t.Errorf("Reject %q: %v", tt.reason, err)
			continue
		}
		if got := m.(Reject).Reason; got != tt.want {
			t.Errorf("Reject %q decoded as %q, want %q", tt.reason, got, tt.want)
		}
	}
}

func TestMsgTypeString(t *testing.T) {
	tests := []struct {
		t    MsgType
		want string
	}{
		{MsgHello, "Hello"},
		{MsgSnapshot, "Snapshot"},
		{MsgUDPBind, "UDPBind"},
		{0, "MsgType(0)"},
		{13, "MsgType(13)"},
		{255, "MsgType(255)"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("MsgType(%d).String() = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestPeekType(t *testing.T) {
	if typ, err := PeekType([]byte{5, 1, 2}); typ != MsgSnapshot || err != nil {
		t.Errorf("PeekType = %v, %v", typ, err)
	}
	if _, err := PeekType(nil); !errors.Is(err, ErrTruncated) {
		t.Errorf("PeekType(nil) err = %v, want ErrTruncated", err)
	}
}
