package replay

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"
)

// record is one decoded record. Byte fields point into the decoder's block.
type record struct {
	typ    byte
	id     uint64 // connection, listener, port or timer
	id2    uint64 // build: the listener; write: n; producer: 1 pause / 0 resume; stop: passes
	val    uint64 // clock: nanoseconds; input: the value
	hash   uint64
	data   []byte
	str    string // dial and listen: the address; call: the name
	err    error
	a1, a2 net.Addr
	ap     netip.AddrPort
	flag   byte // datagram: 1 when ap is new; udp write: 1 for WriteTo
	index  uint64
	off    int64 // the file offset of its block
}

// read decodes the next record into rec.
func (d *decoder) read(rec *record) error {
	if err := d.more(); err != nil {
		return err
	}
	if d.ended {
		return d.corrupt("a record after the end record")
	}
	*rec = record{off: d.off}
	t, err := d.byte()
	if err != nil {
		return err
	}
	rec.typ = t
	if t == 0 || t > recMax {
		return d.corrupt(fmt.Sprintf("an unknown record type %d", t))
	}
	u := func(p *uint64) {
		if err == nil {
			*p, err = d.u()
		}
	}
	b := func() {
		if err == nil {
			rec.data, err = d.b()
		}
	}
	s := func() {
		if err == nil {
			rec.str, err = d.s()
		}
	}
	e := func() {
		if err == nil {
			rec.err, err = d.error()
		}
	}
	ap := func() {
		if err == nil {
			rec.ap, err = d.addrPort()
		}
	}
	addr := func(a *net.Addr) {
		if err == nil {
			*a, err = d.addr()
		}
	}
	flag := func() {
		if err == nil {
			rec.flag, err = d.byte()
		}
	}
	switch t {
	case recClock:
		u(&rec.val)
	case recFrame:
		rec.hash, err = d.u64le()
	case recInput:
		u(&rec.val)
	case recDial:
		u(&rec.id)
		s()
		e()
	case recListen:
		u(&rec.id)
		s()
		e()
		addr(&rec.a1)
	case recBuild:
		u(&rec.id)
		u(&rec.id2)
		addr(&rec.a1)
	case recMade:
		u(&rec.id)
		addr(&rec.a1)
		addr(&rec.a2)
	case recFailed, recLost, recLose, recAbort, recUDPClose, recStopListen:
		u(&rec.id)
		e()
	case recData:
		u(&rec.id)
		b()
	case recStop:
		u(&rec.id)
		u(&rec.id2)
	case recReadLost, recRefused, recTimer, recCancel:
		u(&rec.id)
	case recProducer:
		u(&rec.id)
		u(&rec.id2)
	case recWrite:
		u(&rec.id)
		b()
		u(&rec.id2)
		e()
	case recUDPOpen:
		u(&rec.id)
		s()
		e()
		ap()
	case recUDPConnect:
		u(&rec.id)
		ap()
		e()
	case recUDPWrite:
		u(&rec.id)
		flag()
		if err == nil && rec.flag == 1 {
			ap()
		}
		b()
		e()
	case recDatagram:
		u(&rec.id)
		flag()
		if err == nil && rec.flag == 1 {
			ap()
		}
		b()
	case recCall:
		s()
		b()
	case recReturn:
	case recEnd:
		d.ended = true
		if d.pos != len(d.block) {
			return d.corrupt("bytes after the end record")
		}
	}
	if err == nil && (rec.flag > 1) {
		return d.corrupt("a bad flag")
	}
	return err
}

// describe says what a record is, for a divergence report.
func describe(rec *record) string {
	switch rec.typ {
	case recFrame:
		return fmt.Sprintf("the end of a frame with state hash %016x", rec.hash)
	case recInput:
		return fmt.Sprintf("an input of %d", rec.val)
	case recDial:
		return fmt.Sprintf("a dial to %s (connection %d)", rec.str, rec.id)
	case recWrite:
		return fmt.Sprintf("a write of %s on connection %d", quote(rec.data), rec.id)
	case recUDPWrite:
		if rec.flag == 1 {
			return fmt.Sprintf("a datagram of %s sent on port %d to %v", quote(rec.data), rec.id, rec.ap)
		}
		return fmt.Sprintf("a datagram of %s sent on port %d", quote(rec.data), rec.id)
	case recData:
		return fmt.Sprintf("%d bytes received on connection %d", len(rec.data), rec.id)
	case recDatagram:
		return fmt.Sprintf("a datagram of %d bytes received on port %d", len(rec.data), rec.id)
	case recCall:
		return fmt.Sprintf("a call of %q", rec.str)
	case recTimer:
		return fmt.Sprintf("timer %d firing", rec.id)
	case recUDPOpen:
		return fmt.Sprintf("a UDP port opened on %s (port %d)", rec.str, rec.id)
	case recUDPConnect:
		return fmt.Sprintf("port %d connected to %v", rec.id, rec.ap)
	case recStop:
		return fmt.Sprintf("a budget stop on connection %d after %d passing checks", rec.id, rec.id2)
	case recLose, recAbort, recLost, recMade, recFailed, recReadLost, recCancel:
		return fmt.Sprintf("%s on connection %d", recName(rec.typ), rec.id)
	case recUDPClose, recRefused:
		return fmt.Sprintf("%s on port %d", recName(rec.typ), rec.id)
	case recListen, recStopListen:
		return fmt.Sprintf("%s (listener %d)", recName(rec.typ), rec.id)
	}
	return recName(rec.typ)
}

// Info describes a recording, from Scan.
type Info struct {
	Start    time.Time         // when the recording began
	Meta     map[string]string // Options.Meta
	Duration time.Duration     // from the start to the last clock record
	Frames   uint64            // EndFrame calls recorded
	Records  uint64            // records, the end record included
	Bytes    int64             // the file's size
	Counts   map[string]uint64 // records by kind
}

// Scan reads a whole recording from r and checks it: the header, every
// block's checksum, every record, and the end record. It returns what the
// file holds, or the first problem: an error matching ErrNotReplay,
// ErrVersion, ErrCorrupt or ErrTruncated that says where it is. Use it
// before replaying a file, to fail at once rather than part-way.
func Scan(r io.Reader) (Info, error) {
	d := newDecoder(r)
	if err := d.readMagic(); err != nil {
		return Info{}, err
	}
	h, err := d.readHeader()
	if err != nil {
		return Info{}, err
	}
	info := Info{Start: h.start, Meta: h.meta, Counts: map[string]uint64{}}
	var rec record
	var off time.Duration
	for !d.ended {
		if err := d.read(&rec); err != nil {
			info.Bytes = d.br.n
			return info, err
		}
		info.Records++
		info.Counts[recName(rec.typ)]++
		switch rec.typ {
		case recClock:
			off += time.Duration(rec.val)
		case recFrame:
			info.Frames++
		}
	}
	info.Duration = off
	// Nothing may follow the end block.
	var one [1]byte
	if n, _ := d.r.Read(one[:]); n > 0 {
		return info, fmt.Errorf("%w: bytes after the end record at byte %d", ErrCorrupt, d.br.n)
	}
	info.Bytes = d.br.n
	return info, nil
}
