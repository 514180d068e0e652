//go:build darwin || dragonfly || freebsd || openbsd

package poller

import (
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// kqueuePoller is the backend for macOS and the BSDs. One-shot
// registrations use EV_DISPATCH (disabled after one report, re-enabled by
// mod); persistent ones use EV_CLEAR (edge triggered). The wake-up is a
// pipe, which every BSD has (EVFILT_USER is missing on OpenBSD).
//
// kevent's user-data field is a pointer on most BSDs, so it cannot carry a
// Token; the Token of each descriptor lives in a table indexed by descriptor
// number, written by the main thread and read atomically by the poll loop.
type kqueuePoller struct {
	kq int
	*wakeup
	toks atomic.Pointer[[]atomic.Uint64] // fd -> Token+1 (0: none)
	cur  map[int]Interest                // fd -> filters registered (main thread)
	buf  []unix.Kevent_t
	chg  []unix.Kevent_t
}

func newKqueue() (Poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, &Error{"kqueue", "kqueue", err}
	}
	unix.CloseOnExec(kq)
	wk, err := newWakeup()
	if err != nil {
		unix.Close(kq)
		return nil, &Error{"kqueue", "pipe", err}
	}
	p := &kqueuePoller{kq: kq, wakeup: wk, cur: make(map[int]Interest), buf: make([]unix.Kevent_t, 256)}
	empty := make([]atomic.Uint64, 0)
	p.toks.Store(&empty)
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wk.r, unix.EVFILT_READ, unix.EV_ADD)
	if _, err := unix.Kevent(kq, ev[:], nil, nil); err != nil {
		p.Free()
		return nil, &Error{"kqueue", "kevent", err}
	}
	return p, nil
}

func (p *kqueuePoller) setToken(fd int, v uint64) {
	t := *p.toks.Load()
	if fd >= len(t) {
		n := make([]atomic.Uint64, fd*2+64)
		for i := range t {
			n[i].Store(t[i].Load())
		}
		p.toks.Store(&n)
		t = n
	}
	t[fd].Store(v)
}

func (p *kqueuePoller) tokenOf(fd int) (Token, bool) {
	t := *p.toks.Load()
	if fd < 0 || fd >= len(t) {
		return 0, false
	}
	v := t[fd].Load()
	return Token(v - 1), v != 0
}

func (p *kqueuePoller) change(fd int, want, had Interest, oneshot bool) error {
	p.chg = p.chg[:0]
	flags := unix.EV_ADD | unix.EV_ENABLE
	if oneshot {
		flags |= unix.EV_DISPATCH
	} else {
		flags |= unix.EV_CLEAR
	}
	var k unix.Kevent_t
	for _, f := range [...]struct {
		bit    Interest
		filter int
	}{{Read, unix.EVFILT_READ}, {Write, unix.EVFILT_WRITE}} {
		switch {
		case want&f.bit != 0:
			unix.SetKevent(&k, fd, f.filter, flags)
			p.chg = append(p.chg, k)
		case had&f.bit != 0:
			unix.SetKevent(&k, fd, f.filter, unix.EV_DELETE)
			p.chg = append(p.chg, k)
		}
	}
	if len(p.chg) == 0 {
		return nil
	}
	_, err := unix.Kevent(p.kq, p.chg, nil, nil)
	return err
}

func (p *kqueuePoller) Open(fd int, tok Token, ev Interest, oneshot bool) error {
	p.setToken(fd, uint64(tok)+1)
	if err := p.change(fd, ev, 0, oneshot); err != nil {
		p.setToken(fd, 0)
		return err
	}
	p.cur[fd] = ev
	return nil
}

func (p *kqueuePoller) Modify(fd int, tok Token, ev Interest, oneshot bool) error {
	p.setToken(fd, uint64(tok)+1)
	err := p.change(fd, ev, p.cur[fd], oneshot)
	p.cur[fd] = ev
	return err
}

func (p *kqueuePoller) Close(fd int, tok Token) error {
	had := p.cur[fd]
	delete(p.cur, fd)
	p.setToken(fd, 0)
	err := p.change(fd, 0, had, false)
	if err == unix.ENOENT || err == unix.EBADF {
		err = nil // closing a descriptor removes its filters
	}
	return err
}

func (p *kqueuePoller) Wait(out []Event, timeout time.Duration) (int, error) {
	max := len(out)
	if max > len(p.buf) {
		max = len(p.buf)
	}
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, p.buf[:max], ts)
	p.CancelSleep()
	if err != nil {
		return 0, waitError("kqueue", "kevent", err)
	}
	j := 0
	for i := 0; i < n; i++ {
		e := &p.buf[i]
		fd := int(e.Ident)
		if fd == p.r {
			p.drain()
			continue
		}
		tok, ok := p.tokenOf(fd)
		if !ok {
			continue
		}
		var ev Interest
		switch int(e.Filter) {
		case unix.EVFILT_READ:
			ev |= Read
		case unix.EVFILT_WRITE:
			ev |= Write
		}
		if uint32(e.Flags)&unix.EV_EOF != 0 {
			ev |= Hup
		}
		if uint32(e.Flags)&unix.EV_ERROR != 0 {
			ev |= Err
		}
		out[j] = Event{Tok: tok, Ev: ev}
		j++
	}
	return j, nil
}

func (p *kqueuePoller) DisarmRead(Token) {} // EV_CLEAR: no report until new data

func (p *kqueuePoller) Free() error {
	return errors.Join(p.wakeup.close(), unix.Close(p.kq))
}
