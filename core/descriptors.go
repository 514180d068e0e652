package core

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
)

// Descriptor is a file descriptor the reactor watches (Twisted's
// IFileDescriptor). Its methods are called on the main thread.
type Descriptor interface {
	// Fd returns the operating-system descriptor, or -1 once closed. The
	// reactor reads it when the descriptor is added and checks it before
	// every dispatch: a descriptor whose Fd changes, or whose file was
	// closed or replaced behind the reactor's back, is disconnected with
	// ErrBadDescriptor.
	Fd() int
	// ConnectionLost is called exactly once when the reactor disconnects
	// the descriptor: DoRead or DoWrite returned an error or panicked, the
	// descriptor went bad, or the reactor shut down (ErrShutdown). The
	// descriptor is no longer registered when it is called.
	ConnectionLost(reason error)
}

// ReadDescriptor is a Descriptor the reactor can read from.
type ReadDescriptor interface {
	Descriptor
	// DoRead is called on the main thread when the descriptor is readable.
	// Readiness is reported once and re-armed only after DoRead returns, so
	// a DoRead that reads less than is available is called again, not
	// flooded. Returning an error disconnects the descriptor with it;
	// returning io.EOF from a HalfCloser only ends reading.
	DoRead() error
}

// WriteDescriptor is a Descriptor the reactor can write to.
type WriteDescriptor interface {
	Descriptor
	// DoWrite is called on the main thread when the descriptor is
	// writable. Returning an error disconnects the descriptor with it.
	DoWrite() error
}

// HalfCloser is implemented by a ReadDescriptor that can go on writing
// after the peer has finished sending: when its DoRead returns io.EOF the
// reactor stops reading it and calls ReadConnectionLost instead of
// disconnecting it (Twisted's IHalfCloseableDescriptor).
type HalfCloser interface {
	ReadConnectionLost()
}

// ErrConnectionDone is the reason ConnectionLost gets for a clean close: the
// connection ended in order (LoseConnection, or the peer closed and every
// byte was delivered), or a descriptor's DoRead reported a clean end of
// stream (io.EOF) and it cannot half-close. For Go's habits it also matches
// io.EOF: errors.Is(reason, io.EOF) is true for a clean close, and for
// nothing else the reactor reports.
var ErrConnectionDone error = connectionDone{}

type connectionDone struct{}

func (connectionDone) Error() string { return "reactor: connection closed cleanly" }

// Is makes a clean close match io.EOF.
func (connectionDone) Is(target error) bool { return target == io.EOF }

// rawReg is the registration of a raw descriptor. Main thread only, but
// for what handle holds.
type rawReg struct {
	d        Descriptor
	rd       ReadDescriptor
	wd       WriteDescriptor
	reading  bool
	writing  bool
	ident    fileIdent
	added    uint64 // registration order, for Readers/Writers/RemoveAll
	readDone bool   // half-closed: DoRead returned io.EOF
}

func badDescriptor(fd int, err error) error {
	return fmt.Errorf("%w: fd %d: %v", ErrBadDescriptor, fd, err)
}

// AddReader starts watching d for readability (Twisted's addReader). Adding
// a descriptor twice is harmless. Main thread only. It returns an error
// wrapping ErrBadDescriptor if d's descriptor is not open, and
// ErrInvalidArgument for a nil or non-comparable d.
func (r *Reactor) AddReader(d ReadDescriptor) error {
	if d == nil {
		return r.addRaw("AddReader", nil, nil, nil)
	}
	return r.addRaw("AddReader", d, d, nil)
}

// AddWriter starts watching d for writability (Twisted's addWriter). See
// AddReader.
func (r *Reactor) AddWriter(d WriteDescriptor) error {
	if d == nil {
		return r.addRaw("AddWriter", nil, nil, nil)
	}
	return r.addRaw("AddWriter", d, nil, d)
}

// addRaw is AddReader (rd set) and AddWriter (wd set); d is nil for a nil
// descriptor.
func (r *Reactor) addRaw(call string, d Descriptor, rd ReadDescriptor, wd WriteDescriptor) error {
	if r.cfg.threadCheck {
		r.checkMainThread(call)
	}
	if d == nil {
		return fmt.Errorf("%w: nil descriptor for %s", ErrInvalidArgument, call)
	}
	if !r.watchesDescriptors() {
		return fmt.Errorf("%w: raw descriptors need a poller; the %s backend has none (its transports run on the Go runtime's poller)", ErrUnsupported, r.Backend())
	}
	if !reflect.TypeOf(d).Comparable() {
		return fmt.Errorf("%w: descriptor type %T is not comparable (use a pointer)", ErrInvalidArgument, d)
	}
	if h := r.raw[d]; h != nil {
		g := h.owner.(*rawReg)
		if rd != nil {
			if g.reading || g.readDone {
				return nil
			}
			g.reading, g.rd = true, rd
			h.want |= evRead
		} else {
			if g.writing {
				return nil
			}
			g.writing, g.wd = true, wd
			h.want |= evWrite
		}
		if h.pending.Load()&queuedBit == 0 {
			if err := r.rearm(h); err != nil {
				r.loseRaw(h, badDescriptor(h.fd, err))
			}
		}
		return nil
	}
	fd, err := r.descriptorFd(d)
	if err != nil {
		return err
	}
	if fd < 0 {
		return badDescriptor(fd, errors.New("descriptor is closed (Fd returned -1)"))
	}
	id, err := identify(fd)
	if err != nil {
		return badDescriptor(fd, err)
	}
	r.rawSeq++
	g := &rawReg{d: d, rd: rd, wd: wd, reading: rd != nil, writing: wd != nil, ident: id, added: r.rawSeq}
	h := &handle{fd: fd, owner: g, oneshot: true}
	if g.reading {
		h.want |= evRead
	}
	if g.writing {
		h.want |= evWrite
	}
	if err := r.register(h); err != nil {
		return badDescriptor(fd, err)
	}
	r.raw[d] = h
	r.ensurePreen()
	return nil
}

// descriptorFd calls d.Fd, turning a panic into an error.
func (r *Reactor) descriptorFd(d Descriptor) (fd int, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = r.logPanic("Fd", v)
		}
	}()
	return d.Fd(), nil
}

// RemoveReader stops watching d for readability (Twisted's removeReader).
// Removing a descriptor that is not a reader does nothing. Main thread.
func (r *Reactor) RemoveReader(d ReadDescriptor) { r.removeRaw(d, true) }

// RemoveWriter stops watching d for writability (Twisted's removeWriter).
func (r *Reactor) RemoveWriter(d WriteDescriptor) { r.removeRaw(d, false) }

func (r *Reactor) removeRaw(d Descriptor, read bool) {
	if d == nil || !reflect.TypeOf(d).Comparable() {
		return
	}
	h := r.raw[d]
	if h == nil {
		return
	}
	g := h.owner.(*rawReg)
	if read {
		if !g.reading {
			return
		}
		g.reading, g.rd = false, nil
		h.want &^= evRead
	} else {
		if !g.writing {
			return
		}
		g.writing, g.wd = false, nil
		h.want &^= evWrite
	}
	if h.want == 0 {
		delete(r.raw, d)
		r.unregister(h)
		return
	}
	if h.pending.Load()&queuedBit == 0 {
		_ = r.rearm(h)
	}
}

// RemoveAll stops watching every raw descriptor and returns them (Twisted's
// removeAll). The reactor's own descriptors (its wake-up descriptor, and
// the connections and ports of its transports) are not among them. Main
// thread.
func (r *Reactor) RemoveAll() []Descriptor {
	hs := r.rawHandles(func(*rawReg) bool { return true })
	out := make([]Descriptor, 0, len(hs))
	for _, h := range hs {
		g := h.owner.(*rawReg)
		out = append(out, g.d)
		delete(r.raw, g.d)
		r.unregister(h)
	}
	return out
}

// Readers returns the raw descriptors watched for readability, in the
// order they were added. Main thread.
func (r *Reactor) Readers() []Descriptor {
	return r.rawList(func(g *rawReg) bool { return g.reading })
}

// Writers returns the raw descriptors watched for writability.
func (r *Reactor) Writers() []Descriptor {
	return r.rawList(func(g *rawReg) bool { return g.writing })
}

func (r *Reactor) rawList(keep func(*rawReg) bool) []Descriptor {
	hs := r.rawHandles(keep)
	out := make([]Descriptor, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.owner.(*rawReg).d)
	}
	return out
}

func (r *Reactor) rawHandles(keep func(*rawReg) bool) []*handle {
	var hs []*handle
	for _, h := range r.raw {
		if keep(h.owner.(*rawReg)) {
			hs = append(hs, h)
		}
	}
	sort.Slice(hs, func(i, j int) bool {
		return hs[i].owner.(*rawReg).added < hs[j].owner.(*rawReg).added
	})
	return hs
}

// pollReady: readiness of a raw descriptor is reported once; the one-shot
// registration stays disarmed until dispatch re-arms it.
func (g *rawReg) pollReady(l *loop, h *handle, ev interest) { h.markReady(l, ev) }

func (g *rawReg) dispatch(r *Reactor, h *handle) {
	ev := h.takeReady()
	if h.dead {
		return
	}
	if err := r.checkRaw(h); err != nil || ev&evBad != 0 {
		if err == nil {
			err = badDescriptor(h.fd, errors.New("poll reported POLLNVAL"))
		}
		r.loseRaw(h, err)
		return
	}
	if ev&(evRead|evHup|evErr) != 0 && g.reading {
		if err := r.callDoRead(g.rd); err != nil {
			if err == io.EOF {
				if hc, ok := g.d.(HalfCloser); ok {
					g.reading, g.rd, g.readDone = false, nil, true
					h.want &^= evRead
					r.safeCall("ReadConnectionLost", hc.ReadConnectionLost)
					if h.want == 0 && !h.dead {
						r.loseRaw(h, ErrConnectionDone)
						return
					}
				} else {
					r.loseRaw(h, ErrConnectionDone)
					return
				}
			} else {
				r.loseRaw(h, err)
				return
			}
		}
	}
	if h.dead {
		return
	}
	if ev&(evWrite|evHup|evErr) != 0 && g.writing {
		if err := r.callDoWrite(g.wd); err != nil {
			r.loseRaw(h, err)
			return
		}
	}
	if h.dead {
		return
	}
	// A descriptor whose Fd changed during the callbacks (closed: -1) is
	// gone (Twisted's test_negativeOneFileDescriptor).
	if fd, err := r.descriptorFd(g.d); err != nil || fd != h.fd {
		r.loseRaw(h, badDescriptor(h.fd, fmt.Errorf("descriptor number changed to %d", fd)))
		return
	}
	if h.pending.Load()&queuedBit == 0 {
		if err := r.rearm(h); err != nil {
			r.loseRaw(h, badDescriptor(h.fd, err))
		}
	}
}

func (g *rawReg) lose(r *Reactor, h *handle, reason error) { r.loseRaw(h, reason) }

// checkRaw verifies that a raw descriptor still names the file it was
// registered with: same Fd, and the same file behind it (a descriptor
// closed and replaced with dup2 names another file). This costs an fstat
// per raw dispatch; transports never need it, since the reactor owns their
// descriptors.
func (r *Reactor) checkRaw(h *handle) error {
	g := h.owner.(*rawReg)
	fd, err := r.descriptorFd(g.d)
	if err != nil {
		return err
	}
	if fd != h.fd {
		return badDescriptor(h.fd, fmt.Errorf("descriptor number changed to %d", fd))
	}
	id, err := identify(fd)
	if err != nil {
		return badDescriptor(fd, err)
	}
	if id != g.ident {
		return badDescriptor(fd, errors.New("replaced by another file behind the reactor's back"))
	}
	return nil
}

// loseRaw unregisters a raw descriptor and calls its ConnectionLost, once.
func (r *Reactor) loseRaw(h *handle, reason error) {
	if h.dead {
		return
	}
	g := h.owner.(*rawReg)
	delete(r.raw, g.d)
	r.unregister(h)
	d := g.d
	r.safeCall("ConnectionLost", func() { d.ConnectionLost(reason) })
}

func (r *Reactor) callDoRead(d ReadDescriptor) (err error) {
	r.ran++
	defer func() {
		if v := recover(); v != nil {
			err = r.logPanic("DoRead", v)
		}
	}()
	return d.DoRead()
}

func (r *Reactor) callDoWrite(d WriteDescriptor) (err error) {
	r.ran++
	defer func() {
		if v := recover(); v != nil {
			err = r.logPanic("DoWrite", v)
		}
	}()
	return d.DoWrite()
}

// ensurePreen keeps a timer checking raw descriptors while any are
// registered: with epoll and kqueue a descriptor closed behind the reactor's
// back silently leaves the kernel's set, so only a check notices it.
func (r *Reactor) ensurePreen() {
	if r.preen != nil || len(r.raw) == 0 || r.finished {
		return
	}
	r.preen = r.callLater(r.cfg.preenInterval, r.runPreen)
}

func (r *Reactor) runPreen() {
	r.preen = nil
	for _, h := range r.rawHandles(func(*rawReg) bool { return true }) {
		if h.dead {
			continue
		}
		if err := r.checkRaw(h); err != nil {
			r.loseRaw(h, err)
		}
	}
	r.ensurePreen()
}
