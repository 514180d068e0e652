//go:build linux

package poller

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// epollPoller is the Linux backend. One-shot registrations use
// EPOLLONESHOT (level triggered, disarmed after one report); persistent
// ones use EPOLLET, so a connection whose bytes the poll loop drains costs
// no epoll_ctl per event. The eventfd is registered edge-triggered too, so a
// wake costs one write and no read.
type epollPoller struct {
	epfd int
	*wakeup
	buf []unix.EpollEvent
}

func newEpoll() (Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, &Error{"epoll", "epoll_create1", err}
	}
	wk, err := newWakeup()
	if err != nil {
		unix.Close(epfd)
		return nil, &Error{"epoll", "eventfd", err}
	}
	p := &epollPoller{epfd: epfd, wakeup: wk, buf: make([]unix.EpollEvent, 256)}
	ev := epollEvent(wakeToken, unix.EPOLLIN|unix.EPOLLET)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wk.r, &ev); err != nil {
		p.Free()
		return nil, &Error{"epoll", "epoll_ctl", err}
	}
	return p, nil
}

func epollEvent(tok Token, events uint32) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(tok)), Pad: int32(uint32(tok >> 32))}
}

func epollBits(ev Interest, oneshot bool) uint32 {
	var e uint32
	if ev&Read != 0 {
		e |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&Write != 0 {
		e |= unix.EPOLLOUT
	}
	if oneshot {
		e |= unix.EPOLLONESHOT
	} else {
		e |= unix.EPOLLET
	}
	return e
}

func (p *epollPoller) Open(fd int, tok Token, ev Interest, oneshot bool) error {
	e := epollEvent(tok, epollBits(ev, oneshot))
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e)
}

func (p *epollPoller) Modify(fd int, tok Token, ev Interest, oneshot bool) error {
	e := epollEvent(tok, epollBits(ev, oneshot))
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &e)
}

func (p *epollPoller) Close(fd int, tok Token) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

func (p *epollPoller) Wait(out []Event, timeout time.Duration) (int, error) {
	max := len(out)
	if max > len(p.buf) {
		max = len(p.buf)
	}
	n, err := unix.EpollWait(p.epfd, p.buf[:max], timeoutMillis(timeout))
	p.CancelSleep()
	if err != nil {
		return 0, waitError("epoll", "epoll_wait", err)
	}
	j := 0
	for i := 0; i < n; i++ {
		e := &p.buf[i]
		tok := Token(uint64(uint32(e.Fd)) | uint64(uint32(e.Pad))<<32)
		if tok == wakeToken {
			continue
		}
		var ev Interest
		if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLPRI) != 0 {
			ev |= Read
		}
		if e.Events&unix.EPOLLOUT != 0 {
			ev |= Write
		}
		if e.Events&(unix.EPOLLHUP|unix.EPOLLRDHUP) != 0 {
			ev |= Hup
		}
		if e.Events&unix.EPOLLERR != 0 {
			ev |= Err
		}
		out[j] = Event{Tok: tok, Ev: ev}
		j++
	}
	return j, nil
}

func (p *epollPoller) DisarmRead(Token) {} // edge triggered: no report until new data

func (p *epollPoller) Free() error {
	return errors.Join(p.wakeup.close(), unix.Close(p.epfd))
}

// FD returns the epoll descriptor, which is readable while events are
// ready: a waiter on Go's own poller can sleep until then (see
// core's pollWatch). The descriptor stays the poller's.
func (p *epollPoller) FD() int { return p.epfd }
