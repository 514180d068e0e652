package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/threadedselect/reactor/core"
)

// The file format, version 2.
//
//	file   = magic version header block* end-block
//	magic  = 89 52 50 4C 0D 0A 1A 0A       ("\x89RPL\r\n\x1a\n", PNG-style: a text-mode
//	                                         transfer or a foreign file shows at once)
//	version = uvarint                       (2; version 1 recorded a budget stop
//	                                         without its pass count, so a replay
//	                                         could stop a partial protocol early)
//	block  = length:uvarint crc:uint32le payload:byte[length]
//	         (crc is CRC-32C of payload; length is 1..maxBlock)
//
// The first block holds the header: the start time (varint Unix
// nanoseconds) and the metadata (uvarint count, then key and value
// strings). Every later block holds whole records, each a type byte and
// its fields (uvarints, varints, and byte strings as a uvarint length and
// the bytes). The last record of the file is recEnd; a file that stops
// before it is truncated. Records never span blocks, so a reader holds at
// most one block (bounded by maxBlock) and a writer at most one block plus
// the record being added.
const (
	magic          = "\x89RPL\r\n\x1a\n"
	formatVersion  = 2
	blockTarget    = 32 << 10 // a block is written once it holds this much
	maxBlock       = 16 << 20 // no block, so no record, is larger
	maxMetaEntries = 1024
)

// Errors reading a file; errors.Is works with them. The messages say where
// in the file the problem is.
var (
	// ErrNotReplay: the file does not start like a replay file.
	ErrNotReplay = errors.New("replay: not a replay file")
	// ErrVersion: a replay file of a version this build cannot read.
	ErrVersion = errors.New("replay: unsupported file version")
	// ErrCorrupt: a block's checksum does not match, or a record cannot be
	// decoded.
	ErrCorrupt = errors.New("replay: corrupt file")
	// ErrTruncated: the file ends before its end record.
	ErrTruncated = errors.New("replay: truncated file")
	// ErrTooLarge: a record would not fit in a block (maxBlock).
	ErrTooLarge = errors.New("replay: record too large")
)

// Record types. Pushed records are events the reactor hands the game
// (replay delivers them); pulled records are calls the game makes (replay
// expects them, in the same order, and answers with what was recorded).
const (
	recClock      byte = 1  // pushed: uvarint nanoseconds since the previous clock reading
	recFrame      byte = 2  // pulled (EndFrame): uint64le state hash
	recInput      byte = 3  // pulled (Input): uvarint value
	recDial       byte = 4  // pulled (ConnectTCP): conn, addr, err
	recListen     byte = 5  // pulled (ListenTCP): listener, addr, err, local addr
	recBuild      byte = 6  // pushed (BuildProtocol): conn, listener (0: dialed), remote addr
	recMade       byte = 7  // pushed (ConnectionMade): conn, local addr, remote addr
	recFailed     byte = 8  // pushed (ConnectionFailed): conn, err
	recData       byte = 9  // pushed (DataReceived): conn, bytes
	recStop       byte = 10 // pulled by a partial protocol's budget test: conn, passes (the budget was spent after that many "not yet" answers in the same delivery)
	recLost       byte = 11 // pushed (ConnectionLost): conn, err
	recReadLost   byte = 12 // pushed (ReadConnectionLost): conn
	recProducer   byte = 13 // pushed (Producer): conn, 1 pause / 0 resume
	recWrite      byte = 14 // pulled (Write, Writev): conn, bytes, n, err
	recLose       byte = 15 // pulled (LoseConnection): conn, err
	recAbort      byte = 16 // pulled (AbortConnection, AbortWithError): conn, reason
	recUDPOpen    byte = 17 // pulled (ListenUDP): port, addr, err, local addrport
	recUDPConnect byte = 18 // pulled (Connect): port, addrport, err
	recUDPWrite   byte = 19 // pulled (Write, WriteTo): port, flag, [addrport], bytes, err
	recUDPClose   byte = 20 // pulled (Close): port, err
	recDatagram   byte = 21 // pushed (DatagramReceived): port, from (0: as before | 1 addrport), bytes
	recRefused    byte = 22 // pushed (ConnectionRefused): port
	recTimer      byte = 23 // pushed (a CallLater/CallEvery fires): timer
	recCall       byte = 24 // pushed (a recordable call): name, payload
	recCancel     byte = 25 // pulled (Dialing.Cancel): conn; what it causes follows, then recReturn
	recReturn     byte = 26 // end of the callbacks a pulled call made at once
	recStopListen byte = 27 // pulled (StopListening): listener, err
	recEnd        byte = 28 // the end of the file
	recMax        byte = 28
)

var recNames = [...]string{
	recClock: "clock", recFrame: "frame", recInput: "input", recDial: "dial", recListen: "listen",
	recBuild: "build", recMade: "connection made", recFailed: "connection failed", recData: "data",
	recStop: "budget stop", recLost: "connection lost", recReadLost: "read side lost", recProducer: "producer",
	recWrite: "write", recLose: "lose connection", recAbort: "abort", recUDPOpen: "udp listen",
	recUDPConnect: "udp connect", recUDPWrite: "udp write", recUDPClose: "udp close", recDatagram: "datagram",
	recRefused: "udp refused", recTimer: "timer", recCall: "call", recCancel: "cancel dial",
	recReturn: "return", recStopListen: "stop listening", recEnd: "end",
}

func recName(t byte) string {
	if int(t) < len(recNames) && recNames[t] != "" {
		return recNames[t]
	}
	return fmt.Sprintf("record type %d", t)
}

// pushed reports whether records of type t are events replay delivers
// (as opposed to calls the game makes).
func pushed(t byte) bool {
	switch t {
	case recClock, recBuild, recMade, recFailed, recData, recLost, recReadLost, recProducer,
		recDatagram, recRefused, recTimer, recCall, recEnd:
		return true
	}
	return false
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors are recorded as the sentinels of package core they match (a
// bitmask, in this order, fixed for the format's version) and their
// message; replay rebuilds an error with that message that matches the
// same sentinels.
var sentinels = [...]error{
	core.ErrConnectionDone, core.ErrConnectionReset, core.ErrConnectionRefused, core.ErrUnreachable,
	core.ErrTimeout, core.ErrAborted, core.ErrBadInput, core.ErrClosed, core.ErrResolve,
	core.ErrRefusedByFactory, core.ErrWriteQueueFull, core.ErrShutdown, core.ErrPanic,
	core.ErrBadDescriptor, core.ErrInvalidArgument, core.ErrStopped, core.ErrNotRunning, core.ErrUnsupported,
}

// RecordedError is an error as replay rebuilds it from the file: the
// recorded message, matching (errors.Is) the sentinels of package core
// the recorded error matched.
type RecordedError struct {
	Msg  string
	mask uint64
}

func (e *RecordedError) Error() string { return e.Msg }

// Is reports whether the recorded error matched target, one of package
// core's sentinel errors.
func (e *RecordedError) Is(target error) bool {
	for i, s := range sentinels {
		if e.mask&(1<<i) != 0 && s == target {
			return true
		}
	}
	return false
}

func errMask(err error) uint64 {
	var m uint64
	for i, s := range sentinels {
		if errors.Is(err, s) {
			m |= 1 << i
		}
	}
	return m
}

// encoder builds blocks of records on the main thread and hands each full
// block to a writer goroutine, which checksums and writes it: the main
// thread never waits for the disk unless every spare buffer is in flight.
// Nothing is allocated per record once the buffers have grown.
type encoder struct {
	buf     []byte
	err     error // sticky
	records uint64
	bw      *blockWriter
}

// blockWriter is the goroutine's side: full blocks come in on out, their
// buffers go back on free.
type blockWriter struct {
	w    io.Writer
	out  chan []byte
	free chan []byte
	done chan struct{}

	mu      sync.Mutex
	err     error
	written int64
}

// blockBuffers is how many block buffers an encoder cycles through.
const blockBuffers = 4

func newBlockWriter(w io.Writer) *blockWriter {
	bw := &blockWriter{w: w, out: make(chan []byte, blockBuffers), free: make(chan []byte, blockBuffers), done: make(chan struct{})}
	for range blockBuffers - 1 {
		bw.free <- make([]byte, 0, blockTarget+4096)
	}
	go bw.run()
	return bw
}

func (bw *blockWriter) run() {
	defer close(bw.done)
	var hdr [binary.MaxVarintLen64 + 4]byte
	for b := range bw.out {
		if bw.error() == nil {
			n := binary.PutUvarint(hdr[:], uint64(len(b)))
			binary.LittleEndian.PutUint32(hdr[n:], crc32.Checksum(b, castagnoli))
			bw.write(hdr[:n+4])
			bw.write(b)
		}
		bw.free <- b[:0]
	}
}

func (bw *blockWriter) write(b []byte) {
	n, err := bw.w.Write(b)
	bw.mu.Lock()
	bw.written += int64(n)
	if err != nil && bw.err == nil {
		bw.err = fmt.Errorf("replay: writing the recording: %w", err)
	}
	bw.mu.Unlock()
}

func (bw *blockWriter) error() error {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	return bw.err
}

func (bw *blockWriter) bytes() int64 {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	return bw.written
}

// close writes what is queued and stops the goroutine.
func (bw *blockWriter) close() error {
	close(bw.out)
	<-bw.done
	return bw.error()
}

func (e *encoder) u(v uint64)     { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) i(v int64)      { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) b(p []byte)     { e.u(uint64(len(p))); e.buf = append(e.buf, p...) }
func (e *encoder) s(p string)     { e.u(uint64(len(p))); e.buf = append(e.buf, p...) }
func (e *encoder) typ(t byte)     { e.buf = append(e.buf, t); e.records++ }
func (e *encoder) u64le(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

func (e *encoder) error(err error) {
	if err == nil {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.u(errMask(err))
	e.s(err.Error())
}

// addrPort writes 0 for the zero AddrPort; 4, the address and the port
// (big-endian) for IPv4; 6, the address, the port and the zone for IPv6.
func (e *encoder) addrPort(ap netip.AddrPort) {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		e.buf = append(e.buf, 0)
	case a.Is4():
		b := a.As4()
		e.buf = append(e.buf, 4)
		e.buf = append(e.buf, b[:]...)
		e.buf = binary.BigEndian.AppendUint16(e.buf, ap.Port())
	default:
		b := a.As16()
		e.buf = append(e.buf, 6)
		e.buf = append(e.buf, b[:]...)
		e.buf = binary.BigEndian.AppendUint16(e.buf, ap.Port())
		e.s(a.Zone())
	}
}

// addr writes a net.Addr: 0 nil, 1 a TCP or UDP address (as an AddrPort),
// 2 anything else (network and string).
func (e *encoder) addr(a net.Addr) {
	switch v := a.(type) {
	case nil:
		e.buf = append(e.buf, 0)
	case *net.TCPAddr:
		e.buf = append(e.buf, 1)
		e.addrPort(v.AddrPort())
	default:
		e.buf = append(e.buf, 2)
		e.s(a.Network())
		e.s(a.String())
	}
}

// writeMagic writes the file's first bytes, directly.
func writeMagic(w io.Writer) error {
	var b []byte
	b = append(b, magic...)
	b = binary.AppendUvarint(b, formatVersion)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("replay: writing the recording: %w", err)
	}
	return nil
}

// end finishes a record: once the block is big enough it is handed over.
func (e *encoder) end() {
	if len(e.buf) >= blockTarget {
		e.flush()
	}
}

// flush hands the block being built to the writer and takes a spare
// buffer (waiting for one only if all are being written).
func (e *encoder) flush() {
	if len(e.buf) == 0 || e.err != nil {
		e.buf = e.buf[:0]
		return
	}
	if err := e.bw.error(); err != nil {
		e.err = err
		return
	}
	if len(e.buf) > maxBlock {
		e.err = fmt.Errorf("%w: a block of %d bytes (limit %d)", ErrTooLarge, len(e.buf), maxBlock)
		return
	}
	e.bw.out <- e.buf
	e.buf = <-e.bw.free
}

// decoder reads blocks and the records in them.
type decoder struct {
	r      io.Reader
	br     *byteReader
	block  []byte // the current block's payload
	pos    int    // read position in block
	off    int64  // file offset of the current block
	next   int64  // file offset of the next block
	err    error  // sticky
	keep   bool   // the current block's bytes are in use: do not reuse its buffer
	ended  bool   // recEnd was read
	blocks uint64
}

// byteReader counts what it reads, for the offsets in errors.
type byteReader struct {
	r   io.Reader
	n   int64
	one [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.one[:]); err != nil {
		return 0, err
	}
	b.n++
	return b.one[0], nil
}

func (b *byteReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(b.r, p)
	b.n += int64(n)
	return n, err
}

func newDecoder(r io.Reader) *decoder {
	return &decoder{r: r, br: &byteReader{r: r}}
}

func (d *decoder) fail(err error) error {
	if d.err == nil {
		d.err = err
	}
	return d.err
}

// readMagic checks the file's first bytes.
func (d *decoder) readMagic() error {
	var m [len(magic)]byte
	n, err := d.br.Read(m[:])
	if n < len(m) || string(m[:]) != magic {
		if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
			return d.fail(fmt.Errorf("%w: the file is empty", ErrNotReplay))
		}
		if n < len(m) && string(m[:n]) == magic[:n] {
			return d.fail(fmt.Errorf("%w: it ends after %d bytes", ErrTruncated, n))
		}
		return d.fail(fmt.Errorf("%w: it starts with %q, not %q", ErrNotReplay, m[:n], magic))
	}
	v, err := binary.ReadUvarint(d.br)
	if err != nil {
		return d.fail(fmt.Errorf("%w: it ends in the version number", ErrTruncated))
	}
	if v != formatVersion {
		return d.fail(fmt.Errorf("%w: version %d; this build reads version %d", ErrVersion, v, formatVersion))
	}
	d.next = d.br.n
	return nil
}

// nextBlock reads the next block. At the end of the file it returns
// ErrTruncated (the end record was not seen).
func (d *decoder) nextBlock() error {
	if d.err != nil {
		return d.err
	}
	d.off = d.br.n
	n, err := binary.ReadUvarint(d.br)
	if err != nil {
		if err == io.EOF && d.br.n == d.off {
			return d.fail(fmt.Errorf("%w: it ends at byte %d without its end record (was the recording closed?)", ErrTruncated, d.off))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return d.fail(fmt.Errorf("%w: it ends inside the block header at byte %d", ErrTruncated, d.off))
		}
		return d.fail(fmt.Errorf("%w: block header at byte %d: %v", ErrCorrupt, d.off, err))
	}
	if n == 0 || n > maxBlock {
		return d.fail(fmt.Errorf("%w: block at byte %d announces %d bytes (limit %d)", ErrCorrupt, d.off, n, maxBlock))
	}
	var crc [4]byte
	if _, err := d.br.Read(crc[:]); err != nil {
		return d.fail(fmt.Errorf("%w: it ends inside the block header at byte %d", ErrTruncated, d.off))
	}
	if d.keep || cap(d.block) < int(n) {
		d.block = make([]byte, n)
	}
	d.block = d.block[:n]
	d.keep = false
	if k, err := d.br.Read(d.block); err != nil {
		return d.fail(fmt.Errorf("%w: the block at byte %d has %d of its %d bytes", ErrTruncated, d.off, k, n))
	}
	if crc32.Checksum(d.block, castagnoli) != binary.LittleEndian.Uint32(crc[:]) {
		return d.fail(fmt.Errorf("%w: the block of %d bytes at byte %d fails its checksum", ErrCorrupt, n, d.off))
	}
	d.pos = 0
	d.blocks++
	return nil
}

// more reports whether the current block has records left, reading the
// next block if not.
func (d *decoder) more() error {
	for d.pos >= len(d.block) {
		if err := d.nextBlock(); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) corrupt(what string) error {
	return d.fail(fmt.Errorf("%w: %s in the block at byte %d (offset %d)", ErrCorrupt, what, d.off, d.pos))
}

func (d *decoder) u() (uint64, error) {
	v, n := binary.Uvarint(d.block[d.pos:])
	if n <= 0 {
		return 0, d.corrupt("a bad number")
	}
	d.pos += n
	return v, nil
}

func (d *decoder) i() (int64, error) {
	v, n := binary.Varint(d.block[d.pos:])
	if n <= 0 {
		return 0, d.corrupt("a bad number")
	}
	d.pos += n
	return v, nil
}

func (d *decoder) byte() (byte, error) {
	if d.pos >= len(d.block) {
		return 0, d.corrupt("a record cut short")
	}
	b := d.block[d.pos]
	d.pos++
	return b, nil
}

// b returns a byte string; it points into the block.
func (d *decoder) b() ([]byte, error) {
	n, err := d.u()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.block)-d.pos) {
		return nil, d.corrupt("a string longer than its block")
	}
	p := d.block[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return p, nil
}

func (d *decoder) s() (string, error) {
	b, err := d.b()
	return string(b), err
}

func (d *decoder) u64le() (uint64, error) {
	if len(d.block)-d.pos < 8 {
		return 0, d.corrupt("a record cut short")
	}
	v := binary.LittleEndian.Uint64(d.block[d.pos:])
	d.pos += 8
	return v, nil
}

func (d *decoder) error() (error, error) {
	flag, err := d.byte()
	if err != nil || flag == 0 {
		return nil, err
	}
	if flag != 1 {
		return nil, d.corrupt("a bad error flag")
	}
	mask, err := d.u()
	if err != nil {
		return nil, err
	}
	msg, err := d.s()
	if err != nil {
		return nil, err
	}
	return &RecordedError{Msg: msg, mask: mask}, nil
}

func (d *decoder) addrPort() (netip.AddrPort, error) {
	kind, err := d.byte()
	if err != nil {
		return netip.AddrPort{}, err
	}
	rest := d.block[d.pos:]
	switch kind {
	case 0:
		return netip.AddrPort{}, nil
	case 4:
		if len(rest) < 6 {
			break
		}
		d.pos += 6
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[:4])), binary.BigEndian.Uint16(rest[4:6])), nil
	case 6:
		if len(rest) < 18 {
			break
		}
		d.pos += 18
		zone, err := d.s()
		if err != nil {
			return netip.AddrPort{}, err
		}
		a := netip.AddrFrom16([16]byte(rest[:16])).WithZone(zone)
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(rest[16:18])), nil
	}
	return netip.AddrPort{}, d.corrupt("a bad address")
}

func (d *decoder) addr() (net.Addr, error) {
	kind, err := d.byte()
	if err != nil {
		return nil, err
	}
	switch kind {
	case 0:
		return nil, nil
	case 1:
		ap, err := d.addrPort()
		if err != nil {
			return nil, err
		}
		return net.TCPAddrFromAddrPort(ap), nil
	case 2:
		network, err := d.s()
		if err != nil {
			return nil, err
		}
		s, err := d.s()
		if err != nil {
			return nil, err
		}
		return recordedAddr{network, s}, nil
	}
	return nil, d.corrupt("a bad address kind")
}

// recordedAddr is a net.Addr that was neither TCP nor UDP.
type recordedAddr struct{ network, s string }

func (a recordedAddr) Network() string { return a.network }
func (a recordedAddr) String() string  { return a.s }

// header is the first block: when the recording started and its metadata.
type header struct {
	start time.Time
	meta  map[string]string
}

func (e *encoder) writeHeader(h header) {
	e.i(h.start.UnixNano())
	e.u(uint64(len(h.meta)))
	keys := make([]string, 0, len(h.meta))
	for k := range h.meta {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		e.s(k)
		e.s(h.meta[k])
	}
	e.flush()
}

func (d *decoder) readHeader() (header, error) {
	if err := d.nextBlock(); err != nil {
		return header{}, err
	}
	var h header
	ns, err := d.i()
	if err != nil {
		return h, err
	}
	h.start = time.Unix(0, ns)
	n, err := d.u()
	if err != nil {
		return h, err
	}
	if n > maxMetaEntries {
		return h, d.corrupt(fmt.Sprintf("%d metadata entries", n))
	}
	h.meta = make(map[string]string, n)
	for range n {
		k, err := d.s()
		if err != nil {
			return h, err
		}
		v, err := d.s()
		if err != nil {
			return h, err
		}
		h.meta[k] = v
	}
	if d.pos != len(d.block) {
		return h, d.corrupt("bytes after the header")
	}
	return h, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// quote shortens b for a message about a difference.
func quote(b []byte) string {
	const max = 48
	var sb strings.Builder
	if len(b) > max {
		fmt.Fprintf(&sb, "%q… (%d bytes)", b[:max], len(b))
	} else {
		fmt.Fprintf(&sb, "%q", b)
	}
	return sb.String()
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	if bytes.Equal(a, b) {
		return -1
	}
	return n
}
