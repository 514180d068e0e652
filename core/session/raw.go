package session

import (
	"fmt"
	"time"
)

// RawMessage is one of the package's own messages as a value, for a
// program that speaks the protocol without a Client or a Server: a load
// generator, or a test that sends a server what no Client would (a
// malformed or hostile hello, a flood, a client that never reads). A game
// needs none of it: Client and Server speak these messages themselves.
//
// Append writes a message's payload and ParseRaw reads one; a payload is
// framed like any other on TCP (package framing) and sent bare in a UDP
// datagram. Which fields a message uses depends on its Kind:
//
//   - RawHello (client, first message): App, Data (ClientConfig.App and
//     Hello), and Resume with ID and Token to resume a session;
//   - RawWelcome (server): ID, Token, Resumed, UDPPort (0: no UDP),
//     IdleTimeout (the server's, in milliseconds on the wire) and Data
//     (ServerConfig.WelcomeData);
//   - RawBye (either way): Reason and Text;
//   - RawPing, RawPong (either way): T, the sender's clock, echoed;
//   - RawBind (client, over UDP): ID and Token; RawBound (server, over
//     UDP) and RawUnbind (client) carry nothing.
//
// Data aliases the parsed payload.
type RawMessage struct {
	Kind RawKind

	App         string
	Data        []byte
	Resume      bool
	Resumed     bool
	ID          uint32
	Token       [16]byte
	UDPPort     uint16
	IdleTimeout time.Duration
	Reason      Reason
	Text        string
	T           int64
}

// RawKind says which of the package's messages a RawMessage is.
type RawKind uint8

// The kinds. RawApp is an application's message (a first byte below
// FirstReserved), which ParseRaw leaves alone.
const (
	RawApp RawKind = iota
	RawHello
	RawWelcome
	RawBye
	RawPing
	RawPong
	RawBind
	RawBound
	RawUnbind
)

// Append appends m's payload to dst and returns it; RawApp appends
// nothing.
func (m RawMessage) Append(dst []byte) []byte {
	switch m.Kind {
	case RawHello:
		return appendHello(dst, hello{version: wireVersion, app: []byte(m.App), resume: m.Resume, id: m.ID, token: m.Token, data: m.Data})
	case RawWelcome:
		return appendWelcome(dst, welcome{id: m.ID, token: m.Token, resumed: m.Resumed, udpPort: m.UDPPort,
			idleMs: uint32(m.IdleTimeout / time.Millisecond), data: m.Data})
	case RawBye:
		return appendBye(dst, m.Reason, m.Text)
	case RawPing:
		return appendPing(dst, msgPing, m.T)
	case RawPong:
		return appendPing(dst, msgPong, m.T)
	case RawBind:
		return appendBind(dst, m.ID, m.Token)
	case RawBound:
		return append(dst, msgBound)
	case RawUnbind:
		return append(dst, msgUnbind)
	}
	return dst
}

// ParseRaw reads a payload: one of the package's messages, or RawApp for
// an application's message (payload[0] < FirstReserved). The error, for
// an empty payload, an unknown type or a malformed message, matches
// ErrProtocol.
func ParseRaw(payload []byte) (RawMessage, error) {
	if len(payload) == 0 {
		return RawMessage{}, fmt.Errorf("%w: empty payload", ErrProtocol)
	}
	switch payload[0] {
	case msgHello:
		h, err := decodeHello(payload)
		if err == nil && h.version != wireVersion {
			err = fmt.Errorf("%w: hello of wire version %d, want %d", ErrProtocol, h.version, wireVersion)
		}
		return RawMessage{Kind: RawHello, App: string(h.app), Data: h.data, Resume: h.resume, ID: h.id, Token: h.token}, err
	case msgWelcome:
		w, err := decodeWelcome(payload)
		return RawMessage{Kind: RawWelcome, ID: w.id, Token: w.token, Resumed: w.resumed, UDPPort: w.udpPort,
			IdleTimeout: time.Duration(w.idleMs) * time.Millisecond, Data: w.data}, err
	case msgBye:
		if len(payload) < 2 {
			return RawMessage{Kind: RawBye}, fmt.Errorf("%w: malformed bye", ErrProtocol)
		}
		b := decodeBye(payload)
		return RawMessage{Kind: RawBye, Reason: b.Reason, Text: b.Text}, nil
	case msgPing, msgPong:
		kind := RawPing
		if payload[0] == msgPong {
			kind = RawPong
		}
		t, ok := decodePing(payload)
		if !ok {
			return RawMessage{Kind: kind}, fmt.Errorf("%w: malformed ping", ErrProtocol)
		}
		return RawMessage{Kind: kind, T: t}, nil
	case msgBind:
		id, token, ok := decodeBind(payload)
		if !ok {
			return RawMessage{Kind: RawBind}, fmt.Errorf("%w: malformed bind", ErrProtocol)
		}
		return RawMessage{Kind: RawBind, ID: id, Token: token}, nil
	case msgBound:
		return RawMessage{Kind: RawBound}, nil
	case msgUnbind:
		return RawMessage{Kind: RawUnbind}, nil
	}
	if payload[0] < FirstReserved {
		return RawMessage{Kind: RawApp}, nil
	}
	return RawMessage{}, fmt.Errorf("%w: unknown message type %#x", ErrProtocol, payload[0])
}
