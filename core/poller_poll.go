//go:build unix

package core

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// pollPoller is the portable poll(2) backend: it builds on every unix and
// has no descriptor-number limit (unlike select(2), which cannot take a
// descriptor at or above FD_SETSIZE).
//
// poll(2) keeps no registrations in the kernel, so the set lives here, owned
// by the goroutine that calls wait. Changes made from the main thread are
// queued on a lock-free ring and applied at the start of the next wait; the
// wait is woken so that they take effect at once. One-shot registrations are
// disarmed by setting their pollfd's descriptor to -1 (poll ignores negative
// descriptors, including for POLLHUP and POLLNVAL, which it would otherwise
// report even with no events requested).
type pollPoller struct {
	wk    *wakeup
	ctl   *ring[pollCtl]
	fds   []unix.PollFd // fds[0] is the wake-up descriptor
	regs  []pollReg     // parallel to fds
	index map[int32]int // slot -> position in fds
	// direct is set when the goroutine that changes the set is the one that
	// waits (the reactor's inline Run loop): changes then apply at once.
	direct bool
}

type pollReg struct {
	tok     token
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
	tok     token
	ev      interest
	oneshot bool
}

func newPollPoller() (poller, error) {
	wk, err := newWakeup()
	if err != nil {
		return nil, &PollerError{"poll", "wakeup", err}
	}
	p := &pollPoller{
		wk:    wk,
		ctl:   newRing[pollCtl](1024),
		index: make(map[int32]int),
	}
	p.fds = append(p.fds, unix.PollFd{Fd: int32(wk.readFd()), Events: unix.POLLIN})
	p.regs = append(p.regs, pollReg{tok: wakeToken, fd: int32(wk.readFd())})
	return p, nil
}

func (p *pollPoller) name() string { return "poll" }

func (p *pollPoller) queue(c pollCtl) error {
	if c.fd < 0 {
		return unix.EBADF
	}
	if p.direct {
		p.applyOne(c)
		return nil
	}
	for !p.ctl.push(c) {
		// A thousand changes are waiting for the poll thread: make sure it
		// is awake to apply them, and wait for room. Order is kept.
		p.wk.sleeping.Store(true)
		p.wk.wake()
		runtime.Gosched()
	}
	p.wk.wake()
	return nil
}

// setDirect switches between queued changes (a separate poll thread) and
// direct ones (the main thread polls); called only while nobody waits.
func (p *pollPoller) setDirect(direct bool) {
	p.apply()
	p.direct = direct
}

func (p *pollPoller) add(fd int, tok token, ev interest, oneshot bool) error {
	// poll(2) cannot tell an invalid descriptor at registration; check now
	// so that AddReader fails the same way on every backend.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return err
	}
	return p.queue(pollCtl{op: pollAdd, fd: int32(fd), tok: tok, ev: ev, oneshot: oneshot})
}

func (p *pollPoller) mod(fd int, tok token, ev interest, oneshot bool) error {
	return p.queue(pollCtl{op: pollMod, fd: int32(fd), tok: tok, ev: ev, oneshot: oneshot})
}

func (p *pollPoller) del(fd int, tok token) error {
	return p.queue(pollCtl{op: pollDel, fd: int32(fd), tok: tok})
}

func pollBits(ev interest) int16 {
	var e int16
	if ev&evRead != 0 {
		e |= unix.POLLIN
	}
	if ev&evWrite != 0 {
		e |= unix.POLLOUT
	}
	return e
}

// apply drains the queued changes into the pollfd set.
func (p *pollPoller) apply() {
	for {
		c, ok := p.ctl.peek(0)
		if !ok {
			return
		}
		op := *c
		p.ctl.release(1)
		p.applyOne(op)
	}
}

func (p *pollPoller) applyOne(op pollCtl) {
	slot := op.tok.slot()
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
	delete(p.index, p.regs[i].tok.slot())
	last := len(p.fds) - 1
	if i != last {
		p.fds[i] = p.fds[last]
		p.regs[i] = p.regs[last]
		p.index[p.regs[i].tok.slot()] = i
	}
	p.fds = p.fds[:last]
	p.regs = p.regs[:last]
}

func (p *pollPoller) wait(out []pollEvent, timeout time.Duration) (int, error) {
	p.apply()
	if p.ctl.depth() > 0 {
		timeout = 0 // a change arrived while applying: do not sleep on a stale set
	}
	n, err := unix.Poll(p.fds, timeoutMillis(timeout))
	p.wk.cancelSleep()
	if err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, &PollerError{"poll", "poll", err}
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
			p.wk.drain()
			continue
		}
		var ev interest
		if re&(unix.POLLIN|unix.POLLPRI) != 0 {
			ev |= evRead
		}
		if re&unix.POLLOUT != 0 {
			ev |= evWrite
		}
		if re&unix.POLLHUP != 0 {
			ev |= evHup
		}
		if re&unix.POLLERR != 0 {
			ev |= evErr
		}
		if re&unix.POLLNVAL != 0 {
			ev |= evBad
		}
		if p.regs[i].oneshot || ev&(evHup|evErr|evBad) != 0 {
			// Disarm: one report per arming. A persistent registration
			// that hung up is disarmed too, since poll would report the
			// hang-up on every call; its owner re-arms or removes it.
			p.fds[i].Fd = -1
		}
		out[j] = pollEvent{tok: p.regs[i].tok, ev: ev}
		j++
	}
	return j, nil
}

func (p *pollPoller) prepareSleep() { p.wk.prepareSleep() }
func (p *pollPoller) cancelSleep()  { p.wk.cancelSleep() }
func (p *pollPoller) wake()         { p.wk.wake() }

func (p *pollPoller) disarmRead(tok token) {
	if i, ok := p.index[tok.slot()]; ok && p.regs[i].tok == tok {
		p.fds[i].Events &^= unix.POLLIN
		if p.fds[i].Events == 0 {
			p.fds[i].Fd = -1
		}
	}
}
func (p *pollPoller) close() error { return p.wk.close() }
