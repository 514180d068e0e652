package game

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ProtocolVersion is the version a client announces in Hello. There is no
// negotiation: both ends are built from this package, so the server rejects
// any other version.
const ProtocolVersion = 1

// Limits of the wire format.
const (
	// MaxNameLen is the longest player name, in bytes.
	MaxNameLen = 16
	// MaxReasonLen is the longest Reject reason, in bytes.
	MaxReasonLen = 128
	// MaxSnapshotBytes bounds an encoded Snapshot payload. With its length
	// prefix (2 bytes) it still fits in one UDP datagram on the IPv6 minimum
	// MTU (1280 - 40 IPv6 - 8 UDP = 1232 bytes), so it is never fragmented.
	MaxSnapshotBytes = 1200
	// MaxArenaSize is the largest arena width or height, in pixels, that the
	// 1/16 px position encoding can carry (65535/16 = 4095.94).
	MaxArenaSize = 4095
)

// posScale is the number of wire position units per pixel: positions travel
// as uint16 in 1/16 px, which is finer than anything visible and keeps a
// player in 5 bytes.
const posScale = 16

// MsgType is the first byte of every payload and says which message follows.
// The values are part of the wire format: never renumber them.
type MsgType byte

// The message types.
const (
	MsgHello      MsgType = 1  // client→server, first message: Hello
	MsgWelcome    MsgType = 2  // server→client, Hello accepted: Welcome
	MsgReject     MsgType = 3  // server→client, Hello refused: Reject
	MsgInput      MsgType = 4  // client→server: Input
	MsgSnapshot   MsgType = 5  // server→client: Snapshot
	MsgPlayerInfo MsgType = 6  // server→client: PlayerInfo
	MsgPlayerLeft MsgType = 7  // server→client: PlayerLeft
	MsgPing       MsgType = 8  // either direction: Ping
	MsgPong       MsgType = 9  // either direction: Pong
	MsgGoodbye    MsgType = 10 // client→server: Goodbye
	MsgShutdown   MsgType = 11 // server→client: Shutdown
	MsgUDPBind    MsgType = 12 // client→server over UDP: UDPBind
)

var msgTypeNames = [...]string{
	MsgHello:      "Hello",
	MsgWelcome:    "Welcome",
	MsgReject:     "Reject",
	MsgInput:      "Input",
	MsgSnapshot:   "Snapshot",
	MsgPlayerInfo: "PlayerInfo",
	MsgPlayerLeft: "PlayerLeft",
	MsgPing:       "Ping",
	MsgPong:       "Pong",
	MsgGoodbye:    "Goodbye",
	MsgShutdown:   "Shutdown",
	MsgUDPBind:    "UDPBind",
}

// String returns the message name, e.g. "Snapshot", or "MsgType(N)" for a
// value that names no message.
func (t MsgType) String() string {
	if int(t) < len(msgTypeNames) && msgTypeNames[t] != "" {
		return msgTypeNames[t]
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// Input buttons, the bits of Input.Buttons.
const (
	ButtonUp uint8 = 1 << iota
	ButtonDown
	ButtonLeft
	ButtonRight

	// ButtonMask holds every defined button bit. Decode rejects an Input
	// with any other bit set, so the bits stay free for a later version.
	ButtonMask = ButtonUp | ButtonDown | ButtonLeft | ButtonRight
)

// Message is implemented by the message types of this package (Hello,
// Welcome, ...), which are what Decode returns. The set is closed: a type
// switch over it needs no default case for other packages' types.
type Message interface {
	// Type returns the message's type byte.
	Type() MsgType
	isMessage()
}

// Hello is the first message a client sends, over the reliable connection.
type Hello struct {
	Version uint16 // ProtocolVersion of the client
	Name    string // 1..MaxNameLen bytes; see ValidateName
}

// Welcome accepts a Hello. The client uses TickRate for prediction and
// presents Token in UDPBind to prove that a UDP address is its own.
type Welcome struct {
	PlayerID uint16
	Token    [16]byte // random secret, known only to this client and the server
	TickRate uint8    // simulation ticks per second, never 0
	ArenaW   uint16   // arena size in px, 1..MaxArenaSize
	ArenaH   uint16
}

// Reject refuses a Hello (version mismatch, server full, bad name); the
// server closes the connection after sending it.
type Reject struct {
	Reason string // human readable, valid UTF-8, at most MaxReasonLen bytes
}

// Input is one tick of a client's buttons. Seq starts at 1 and increases by
// at least one per Input; the server echoes the last one it applied in
// Snapshot.LastInput (0 meaning none yet).
// PlayerID must be the sender's own id: the server treats anything else as a
// client claiming another player's id.
type Input struct {
	PlayerID uint16
	Seq      uint32
	Buttons  uint8 // ButtonUp | ButtonDown | ButtonLeft | ButtonRight
}

// PlayerState is where a player is. X and Y are the centre of the player in
// pixels, on the 1/16 px grid (anything else is rounded to it on the wire);
// Facing is one of the Facing constants.
type PlayerState struct {
	ID     uint16
	X, Y   float64
	Facing uint8
}

// Snapshot is the state of the world at server tick Tick, sent to one client.
// LastInput is the Seq of the last Input of that client that the server
// applied (0 before any). Players must be sorted by strictly increasing ID;
// Decode rejects others.
type Snapshot struct {
	Tick      uint32
	LastInput uint32
	Players   []PlayerState
}

// PlayerInfo announces a player's name: when someone joins, and after
// Welcome once for everybody already present.
type PlayerInfo struct {
	ID   uint16
	Name string // as in Hello
}

// PlayerLeft announces that a player is gone.
type PlayerLeft struct {
	ID uint16
}

// Ping carries the sender's clock; the peer answers with a Pong carrying the
// same T, and the sender's RTT is its clock minus T.
type Ping struct {
	T int64 // sender's clock, any unit (e.g. nanoseconds)
}

// Pong echoes Ping.T.
type Pong struct {
	T int64
}

// Goodbye is a client's clean quit.
type Goodbye struct{}

// Shutdown tells clients that the server is stopping.
type Shutdown struct{}

// UDPBind is sent by a client over UDP to bind the datagram's source address
// to its player before the server sends it any UDP snapshot. Token is the one
// from Welcome, so nobody else can redirect a player's snapshots.
type UDPBind struct {
	PlayerID uint16
	Token    [16]byte
}

// Type returns MsgHello.
func (Hello) Type() MsgType { return MsgHello }

// Type returns MsgWelcome.
func (Welcome) Type() MsgType { return MsgWelcome }

// Type returns MsgReject.
func (Reject) Type() MsgType { return MsgReject }

// Type returns MsgInput.
func (Input) Type() MsgType { return MsgInput }

// Type returns MsgSnapshot.
func (Snapshot) Type() MsgType { return MsgSnapshot }

// Type returns MsgPlayerInfo.
func (PlayerInfo) Type() MsgType { return MsgPlayerInfo }

// Type returns MsgPlayerLeft.
func (PlayerLeft) Type() MsgType { return MsgPlayerLeft }

// Type returns MsgPing.
func (Ping) Type() MsgType { return MsgPing }

// Type returns MsgPong.
func (Pong) Type() MsgType { return MsgPong }

// Type returns MsgGoodbye.
func (Goodbye) Type() MsgType { return MsgGoodbye }

// Type returns MsgShutdown.
func (Shutdown) Type() MsgType { return MsgShutdown }

// Type returns MsgUDPBind.
func (UDPBind) Type() MsgType { return MsgUDPBind }

func (Hello) isMessage()      {}
func (Welcome) isMessage()    {}
func (Reject) isMessage()     {}
func (Input) isMessage()      {}
func (Snapshot) isMessage()   {}
func (PlayerInfo) isMessage() {}
func (PlayerLeft) isMessage() {}
func (Ping) isMessage()       {}
func (Pong) isMessage()       {}
func (Goodbye) isMessage()    {}
func (Shutdown) isMessage()   {}
func (UDPBind) isMessage()    {}

// ValidateName reports whether name is acceptable as a player name: 1 to
// MaxNameLen bytes of valid UTF-8, every rune printable (unicode.IsPrint:
// letters, marks, numbers, punctuation, symbols and the ASCII space), and no
// leading or trailing space, so that no name is blank or looks like another.
// The error matches ErrBadName.
func ValidateName(name string) error {
	switch {
	case name == "":
		return errNameEmpty
	case len(name) > MaxNameLen:
		return errNameLong
	case !utf8.ValidString(name):
		return errNameUTF8
	case name[0] == ' ' || name[len(name)-1] == ' ':
		return errNameSpace
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return errNameUnprintable
		}
	}
	return nil
}

// The encoders below never validate: they write what they are given, so an
// invalid message (say a Hello with an empty name) produces a payload that
// Decode rejects. They append to dst and allocate only when dst lacks
// capacity.

// AppendHello appends the payload of m to dst.
func AppendHello(dst []byte, m Hello) []byte {
	dst = append(dst, byte(MsgHello))
	dst = binary.AppendUvarint(dst, uint64(m.Version))
	return appendString(dst, m.Name)
}

// AppendWelcome appends the payload of m to dst.
func AppendWelcome(dst []byte, m Welcome) []byte {
	dst = append(dst, byte(MsgWelcome))
	dst = binary.AppendUvarint(dst, uint64(m.PlayerID))
	dst = append(dst, m.Token[:]...)
	dst = append(dst, m.TickRate)
	dst = binary.AppendUvarint(dst, uint64(m.ArenaW))
	return binary.AppendUvarint(dst, uint64(m.ArenaH))
}

// AppendReject appends the payload of m to dst. Unlike the other encoders it
// repairs its input, because a reason is only informative and must not turn
// a refusal into a decoding error: invalid UTF-8 is replaced and a reason
// longer than MaxReasonLen is cut at a rune boundary.
func AppendReject(dst []byte, m Reject) []byte {
	reason := m.Reason
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, "\uFFFD")
	}
	if len(reason) > MaxReasonLen {
		n := MaxReasonLen
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	dst = append(dst, byte(MsgReject))
	return appendString(dst, reason)
}

// AppendInput appends the payload of m to dst.
func AppendInput(dst []byte, m Input) []byte {
	dst = append(dst, byte(MsgInput))
	dst = binary.AppendUvarint(dst, uint64(m.PlayerID))
	dst = binary.AppendUvarint(dst, uint64(m.Seq))
	return append(dst, m.Buttons)
}

// minPlayerBytes is the smallest encoded PlayerState: a 1-byte id, x and y in
// 2 bytes each and the facing byte.
const minPlayerBytes = 1 + 2 + 2 + 1

// AppendSnapshot appends the payload of m to dst with as many of m.Players,
// from the front, as fit in MaxSnapshotBytes, and returns how many it wrote.
// At least 148 players always fit (any ids, ticks and sequence numbers), so
// a world of up to MaxPlayers players always fits in one snapshot; with more,
// send the rest (m.Players[n:]) in another snapshot with the same Tick, which
// Interpolator merges.
func AppendSnapshot(dst []byte, m Snapshot) ([]byte, int) {
	n := snapshotFit(m)
	dst = append(dst, byte(MsgSnapshot))
	dst = binary.AppendUvarint(dst, uint64(m.Tick))
	dst = binary.AppendUvarint(dst, uint64(m.LastInput))
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, p := range m.Players[:n] {
		dst = binary.AppendUvarint(dst, uint64(p.ID))
		dst = binary.LittleEndian.AppendUint16(dst, quantize(p.X))
		dst = binary.LittleEndian.AppendUint16(dst, quantize(p.Y))
		dst = append(dst, p.Facing)
	}
	return dst, n
}

// snapshotFit returns how many of m.Players fit in MaxSnapshotBytes.
func snapshotFit(m Snapshot) int {
	// The player count is sized for all players: an upper bound, since
	// fewer players never need a longer count.
	size := 1 + uvarintLen(uint64(m.Tick)) + uvarintLen(uint64(m.LastInput)) +
		uvarintLen(uint64(len(m.Players)))
	for i, p := range m.Players {
		size += uvarintLen(uint64(p.ID)) + minPlayerBytes - 1
		if size > MaxSnapshotBytes {
			return i
		}
	}
	return len(m.Players)
}

// AppendPlayerInfo appends the payload of m to dst.
func AppendPlayerInfo(dst []byte, m PlayerInfo) []byte {
	dst = append(dst, byte(MsgPlayerInfo))
	dst = binary.AppendUvarint(dst, uint64(m.ID))
	return appendString(dst, m.Name)
}

// AppendPlayerLeft appends the payload of m to dst.
func AppendPlayerLeft(dst []byte, m PlayerLeft) []byte {
	dst = append(dst, byte(MsgPlayerLeft))
	return binary.AppendUvarint(dst, uint64(m.ID))
}

// AppendPing appends the payload of m to dst.
func AppendPing(dst []byte, m Ping) []byte {
	dst = append(dst, byte(MsgPing))
	return binary.AppendVarint(dst, m.T)
}

// AppendPong appends the payload of m to dst.
func AppendPong(dst []byte, m Pong) []byte {
	dst = append(dst, byte(MsgPong))
	return binary.AppendVarint(dst, m.T)
}

// AppendGoodbye appends the payload of a Goodbye (just its type byte) to dst.
func AppendGoodbye(dst []byte, _ Goodbye) []byte {
	return append(dst, byte(MsgGoodbye))
}

// AppendShutdown appends the payload of a Shutdown (just its type byte) to
// dst.
func AppendShutdown(dst []byte, _ Shutdown) []byte {
	return append(dst, byte(MsgShutdown))
}

// AppendUDPBind appends the payload of m to dst.
func AppendUDPBind(dst []byte, m UDPBind) []byte {
	dst = append(dst, byte(MsgUDPBind))
	dst = binary.AppendUvarint(dst, uint64(m.PlayerID))
	return append(dst, m.Token[:]...)
}

// Append appends the payload of any message to dst, for callers that handle
// messages generically. A Snapshot is cut to the players that fit, as by
// AppendSnapshot; call AppendSnapshot to learn how many did.
func Append(dst []byte, m Message) []byte {
	switch m := m.(type) {
	case Hello:
		return AppendHello(dst, m)
	case Welcome:
		return AppendWelcome(dst, m)
	case Reject:
		return AppendReject(dst, m)
	case Input:
		return AppendInput(dst, m)
	case Snapshot:
		dst, _ = AppendSnapshot(dst, m)
		return dst
	case PlayerInfo:
		return AppendPlayerInfo(dst, m)
	case PlayerLeft:
		return AppendPlayerLeft(dst, m)
	case Ping:
		return AppendPing(dst, m)
	case Pong:
		return AppendPong(dst, m)
	case Goodbye:
		return AppendGoodbye(dst, m)
	case Shutdown:
		return AppendShutdown(dst, m)
	case UDPBind:
		return AppendUDPBind(dst, m)
	}
	// Unreachable: Message is sealed, and a nil Message has nothing to
	// append.
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// quantize converts a pixel coordinate to wire units, rounding to the nearest
// 1/16 px and clamping to what a uint16 holds; NaN becomes 0.
func quantize(v float64) uint16 {
	q := v * posScale
	switch {
	case !(q > 0): // also catches NaN
		return 0
	case q >= 65535:
		return 65535
	}
	return uint16(math.Round(q))
}

// uvarintLen is the length of binary.AppendUvarint's encoding of x.
func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
