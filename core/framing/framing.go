// Package framing splits a byte stream into length-prefixed messages: each
// message is its length as a uvarint, then that many bytes of payload. It is
// the wire format of the project's examples and a small, safe default for
// game protocols over TCP.
//
// A Decoder is fed the bytes of DataReceived as they come and hands out
// whole messages; a frame longer than the decoder's limit, or a length
// prefix that is not a valid uvarint, is an error that says so, and wraps
// core.ErrBadInput. Protocol adapts a message handler to core.Protocol and
// closes the connection on such an error.
package framing

import (
	"encoding/binary"
	"fmt"

	"github.com/threadedselect/reactor/core"
)

// Errors of the decoder. Both wrap core.ErrBadInput.
var (
	// ErrTooLarge: a frame announces a payload longer than the limit.
	ErrTooLarge = fmt.Errorf("%w: frame too large", core.ErrBadInput)
	// ErrMalformed: the length prefix is not a valid uvarint.
	ErrMalformed = fmt.Errorf("%w: malformed frame length", core.ErrBadInput)
)

// DefaultMaxMessage is the limit of a Decoder made with a zero limit.
const DefaultMaxMessage = 64 << 10

// Append appends payload as one frame to dst and returns the extended
// slice. It allocates only if dst lacks capacity.
func Append(dst, payload []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(payload)))
	return append(dst, payload...)
}

// Size is the length of the frame of an n-byte payload.
func Size(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n)) + n
}

// Decoder reassembles frames from a stream. The zero value is not usable;
// make one with NewDecoder.
type Decoder struct {
	max  int
	buf  []byte // bytes of an incomplete frame carried over between Feeds
	err  error  // sticky: after an error the stream is out of sync
	msgs uint64
}

// NewDecoder returns a decoder accepting payloads of at most max bytes
// (DefaultMaxMessage if max <= 0).
func NewDecoder(max int) *Decoder {
	if max <= 0 {
		max = DefaultMaxMessage
	}
	return &Decoder{max: max}
}

// Messages is how many messages the decoder has handed out.
func (d *Decoder) Messages() uint64 { return d.msgs }

// Buffered is how many bytes of an incomplete frame the decoder holds.
func (d *Decoder) Buffered() int { return len(d.buf) }

// Feed consumes data and calls onMessage for every complete message, in
// order. The payload passed to onMessage is valid only during the call
// (it may point into data or into the decoder's buffer). Feed stops at the
// first error — from the stream, or returned by onMessage — and returns it;
// after a stream error every later Feed returns the same error, since the
// framing is lost. Memory: a message that arrives whole inside data is not
// copied; only an incomplete frame is kept, never more than the limit.
func (d *Decoder) Feed(data []byte, onMessage func(payload []byte) error) error {
	_, err := d.FeedUntil(data, onMessage, nil)
	return err
}

// FeedUntil is Feed that may stop early: after each message it calls stop
// (if not nil), and if stop returns true it returns at once with the number
// of bytes of data consumed so far, which always includes at least one
// whole message. The caller hands data[consumed:] to a later Feed; nothing
// is copied for that. With an error, consumed is len(data).
func (d *Decoder) FeedUntil(data []byte, onMessage func(payload []byte) error, stop func() bool) (consumed int, err error) {
	if d.err != nil {
		return len(data), d.err
	}
	total := len(data)
	// First complete the frame carried over from earlier data.
	for len(d.buf) > 0 {
		n, hdr, err := d.header(d.buf)
		if err != nil {
			return total, d.fail(err)
		}
		if hdr == 0 {
			// The length prefix itself is incomplete: take one more byte.
			if len(data) == 0 {
				return total, nil
			}
			d.buf = append(d.buf, data[0])
			data = data[1:]
			continue
		}
		need := hdr + n - len(d.buf)
		if len(data) < need {
			d.buf = append(d.buf, data...)
			return total, nil
		}
		d.buf = append(d.buf, data[:need]...)
		data = data[need:]
		payload := d.buf[hdr:]
		d.msgs++
		err = onMessage(payload)
		d.buf = d.buf[:0]
		if err != nil {
			return total, err
		}
		if stop != nil && len(data) > 0 && stop() {
			return total - len(data), nil
		}
	}
	// Then whole frames straight from data.
	for len(data) > 0 {
		n, hdr, err := d.header(data)
		if err != nil {
			return total, d.fail(err)
		}
		if hdr == 0 || len(data) < hdr+n {
			d.buf = append(d.buf, data...)
			return total, nil
		}
		d.msgs++
		if err := onMessage(data[hdr : hdr+n]); err != nil {
			return total, err
		}
		data = data[hdr+n:]
		if stop != nil && len(data) > 0 && stop() {
			return total - len(data), nil
		}
	}
	return total, nil
}

// header parses a length prefix at the start of b: the payload length and
// the prefix's size, or hdr 0 if b holds only part of a prefix.
func (d *Decoder) header(b []byte) (n, hdr int, err error) {
	v, k := binary.Uvarint(b)
	switch {
	case k == 0:
		if len(b) >= binary.MaxVarintLen64 {
			return 0, 0, ErrMalformed
		}
		// A prefix can only announce a length within the limit if it is
		// short; a long incomplete prefix is already too large.
		if len(b) > maxPrefix(d.max) {
			return 0, 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, d.max)
		}
		return 0, 0, nil
	case k < 0:
		return 0, 0, ErrMalformed
	case k > 1 && b[k-1] == 0:
		return 0, 0, fmt.Errorf("%w: non-minimal length prefix", ErrMalformed)
	case v > uint64(d.max):
		return 0, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, v, d.max)
	}
	return int(v), k, nil
}

func maxPrefix(max int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(max))
}

func (d *Decoder) fail(err error) error {
	d.err = err
	d.buf = nil
	return err
}

// Reset forgets any partial frame and error, for reusing the decoder on a
// new stream.
func (d *Decoder) Reset() {
	d.buf = d.buf[:0]
	d.err = nil
	d.msgs = 0
}

// Handler is what a program implements to speak framed messages over a
// connection; Protocol adapts it to core.Protocol.
type Handler interface {
	ConnectionMade(t core.Transport)
	// MessageReceived is called for each whole message. The payload is
	// valid only during the call. Returning an error closes the
	// connection with it (wrap core.ErrBadInput for bad input).
	MessageReceived(payload []byte) error
	ConnectionLost(reason error)
}

// Protocol is a core.Protocol that frames a connection for a Handler: a
// frame over the limit or a malformed one closes the connection at once
// with an error saying so (errors.Is(reason, ErrTooLarge) or ErrMalformed,
// and core.ErrBadInput).
//
// It is a core.PartialProtocol: inside a budgeted Drain (a game's frame) it
// stops at a message boundary once the frame's budget is spent, and the
// reactor hands it the rest of the bytes in the connection's next turn, so
// a flood of small messages costs each frame at most one message past its
// budget.
type Protocol struct {
	Handler Handler
	dec     *Decoder
	t       core.Transport
	onMsg   func([]byte) error
}

// NewProtocol returns a Protocol for h with a payload limit of max bytes.
func NewProtocol(h Handler, max int) *Protocol {
	p := &Protocol{Handler: h, dec: NewDecoder(max)}
	p.onMsg = p.message
	return p
}

// Decoder returns the protocol's decoder, for its counters.
func (p *Protocol) Decoder() *Decoder { return p.dec }

// ConnectionMade implements core.Protocol.
func (p *Protocol) ConnectionMade(t core.Transport) {
	p.t = t
	p.Handler.ConnectionMade(t)
}

// DataReceived implements core.Protocol.
func (p *Protocol) DataReceived(data []byte) {
	if err := p.dec.Feed(data, p.onMsg); err != nil && p.t != nil {
		_ = p.t.AbortWithError(err)
	}
}

// DataReceivedPartial implements core.PartialProtocol: it hands whole
// messages to the Handler until spent reports that the frame's budget is
// spent, and returns how many bytes it consumed.
func (p *Protocol) DataReceivedPartial(data []byte, spent func() bool) int {
	n, err := p.dec.FeedUntil(data, p.onMsg, spent)
	if err != nil && p.t != nil {
		_ = p.t.AbortWithError(err)
	}
	return n
}

func (p *Protocol) message(b []byte) error { return p.Handler.MessageReceived(b) }

// ConnectionLost implements core.Protocol.
func (p *Protocol) ConnectionLost(reason error) { p.Handler.ConnectionLost(reason) }

// Send writes payload as one frame to t, in one write, without allocating
// when scratch has room; it returns scratch for reuse.
func Send(t core.Transport, scratch, payload []byte) ([]byte, error) {
	scratch = Append(scratch[:0], payload)
	_, err := t.Write(scratch)
	return scratch, err
}

var _ core.PartialProtocol = (*Protocol)(nil)
