//go:build unix

package poller

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pollPoller is the portable poll(2) backend: it builds on every unix and
// has no descriptor-number limit (unlike select(2), which cannot take a
// descriptor at or above FD_SETSIZE).
//
// poll(2) keeps no registrations in the kernel, so the set lives here, owned
// by the goroutine that calls Wait. Changes (Open, Modify, Close) are queued
// under a mutex, never waiting for the waiter, and applied at the start of
// the next Wait; a sleeping waiter is woken so that they take effect at once.
// When the waiter is the goroutine that makes the changes (the reactor's
// Run), the wake costs nothing: it is not asleep. One-shot registrations are
// disarmed by setting their pollfd's descriptor to -1 (poll ignores negative
// descriptors, including for POLLHUP and POLLNVAL, which it would otherwise
// report even with no events requested).
type pollPoller struct {
	*wakeup

	mu      sync.Mutex
	pending []pollCtl // changes not yet applied

	// The waiter's.
	ctl   []pollCtl     // changes being applied (swapped with pending)
	fds   []unix.PollFd // fds[0] is the wake-up descriptor
	regs  []pollReg     // parallel to fds
	index map[int32]int // slot -> position in fds
}

type pollReg struct {
	tok     Token
	fd      int32 // the real descriptor; fds[i].Fd is -1 while disarmed
	oneshot bool
}

type pollCtlOp uint8

const (
	pollAdd pollCtlOp = iota
	pollMod
	pollDel
)

type pollCtl struct {
	op      pollCtlOp
	fd      int32
	tok     Token
	ev      Interest
	oneshot bool
}

func newPoll() (Poller, error) {
	wk, err := newWakeup()
	if err != nil {
		return nil, &Error{"poll", "wakeup", err}
	}
	p := &pollPoller{wakeup: wk, index: make(map[int32]int)}
	p.fds = append(p.fds, unix.PollFd{Fd: int32(wk.r), Events: unix.POLLIN})
	p.regs = append(p.regs, pollReg{tok: wakeToken, fd: int32(wk.r)})
	return p, nil
}

func (p *pollPoller) queue(c pollCtl) error {
	if c.fd < 0 {
		return unix.EBADF
	}
	p.mu.Lock()
	p.pending = append(p.pending, c)
	p.mu.Unlock()
	p.Wake()
	return nil
}

func (p *pollPoller) Open(fd int, tok Token, ev Interest, oneshot bool) error {
	// poll(2) cannot tell an invalid descriptor at registration; check now
	// so that AddReader fails the same way on every backend.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return err
	}
	return p.queue(pollCtl{op: pollAdd, fd: int32(fd), tok: tok, ev: ev, oneshot: oneshot})
}

func (p *pollPoller) Modify(fd int, tok Token, ev Interest, oneshot bool) error {
	return p.queue(pollCtl{op: pollMod, fd: int32(fd), tok: tok, ev: ev, oneshot: oneshot})
}

func (p *pollPoller) Close(fd int, tok Token) error {
	return p.queue(pollCtl{op: pollDel, fd: int32(fd), tok: tok})
}

func pollBits(ev Interest) int16 {
	var e int16
	if ev&Read != 0 {
		e |= unix.POLLIN
	}
	if ev&Write != 0 {
		e |= unix.POLLOUT
	}
	return e
}

// apply takes the queued changes into the pollfd set. It reports whether
// more arrived meanwhile.
func (p *pollPoller) apply() (more bool) {
	p.mu.Lock()
	p.ctl, p.pending = p.pending, p.ctl[:0]
	p.mu.Unlock()
	for i := range p.ctl {
		p.applyOne(p.ctl[i])
	}
	p.mu.Lock()
	more = len(p.pending) > 0
	p.mu.Unlock()
	return more
}

func (p *pollPoller) applyOne(op pollCtl) {
	slot := op.tok.Slot()
	switch op.op {
	case pollAdd:
		if i, ok := p.index[slot]; ok {
			p.remove(i)
		}
		p.index[slot] = len(p.fds)
		p.fds = append(p.fds, unix.PollFd{Fd: op.fd, Events: pollBits(op.ev)})
		p.regs = append(p.regs, pollReg{tok: op.tok, fd: op.fd, oneshot: op.oneshot})
		if op.ev == 0 {
			p.fds[len(p.fds)-1].Fd = -1
		}
	case pollMod:
		i, ok := p.index[slot]
		if !ok || p.regs[i].tok != op.tok {
			return
		}
		p.regs[i].oneshot = op.oneshot
		p.fds[i].Events = pollBits(op.ev)
		p.fds[i].Fd = p.regs[i].fd
		if op.ev == 0 {
			p.fds[i].Fd = -1
		}
	case pollDel:
		if i, ok := p.index[slot]; ok && p.regs[i].tok == op.tok {
			p.remove(i)
		}
	}
}

func (p *pollPoller) remove(i int) {
	delete(p.index, p.regs[i].tok.Slot())
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.regs[i] = p.regs[last]
		p.index[p.regs[i].tok.Slot()] = i
	}
	p.fds = p.fds[:last]
	p.regs = p.regs[:last]
}

func (p *pollPoller) Wait(out []Event, timeout time.Duration) (int, error) {
	if p.apply() {
		timeout = 0 // a change arrived while applying: do not sleep on a stale set
	}
	n, err := unix.Poll(p.fds, timeoutMillis(timeout))
	p.CancelSleep()
	if err != nil {
		return 0, waitError("poll", "poll", err)
	}
	j := 0
	for i := 0; i < len(p.fds) && n > 0 && j < len(out); i++ {
		re := p.fds[i].Revents
		if re == 0 {
			continue
		}
		n--
		p.fds[i].Revents = 0
		if i == 0 {
			p.drain()
			continue
		}
		var ev Interest
		if re&(unix.POLLIN|unix.POLLPRI) != 0 {
			ev |= Read
		}
		if re&unix.POLLOUT != 0 {
			ev |= Write
		}
		if re&unix.POLLHUP != 0 {
			ev |= Hup
		}
		if re&unix.POLLERR != 0 {
			ev |= Err
		}
		if re&unix.POLLNVAL != 0 {
			ev |= Bad
		}
		if p.regs[i].oneshot || ev&(Hup|Err|Bad) != 0 {
			// Disarm: one report per arming. A persistent registration
			// that hung up is disarmed too, since poll would report the
			// hang-up on every call; its owner re-arms or removes it.
			p.fds[i].Fd = -1
		}
		out[j] = Event{Tok: p.regs[i].tok, Ev: ev}
		j++
	}
	return j, nil
}

func (p *pollPoller) DisarmRead(tok Token) {
	if i, ok := p.index[tok.Slot()]; ok && p.regs[i].tok == tok {
		p.fds[i].Events &^= unix.POLLIN
		if p.fds[i].Events == 0 {
			p.fds[i].Fd = -1
		}
	}
}
func (p *pollPoller) Free() error { return p.wakeup.close() }
