package poller

import (
	"errors"
	"sync/atomic"
	"time"
)

// portablePoller is the portable backend's stand-in for a poller: it
// watches no descriptors (transports on it are goroutines on the Go
// runtime's poller, which queue their own work), and waiting is sleeping
// until woken or until the next timer.
type portablePoller struct {
	sleeping atomic.Bool
	wakeCh   chan struct{}
	timer    *time.Timer // poll loop only
}

func newPortable() (Poller, error) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &portablePoller{wakeCh: make(chan struct{}, 1), timer: t}, nil
}

// errNoDescriptors: the portable backend watches no descriptors.
var errNoDescriptors = errors.New("the portable backend watches no descriptors")

func (p *portablePoller) Open(int, Token, Interest, bool) error   { return errNoDescriptors }
func (p *portablePoller) Modify(int, Token, Interest, bool) error { return errNoDescriptors }
func (p *portablePoller) Close(int, Token) error                  { return nil }
func (p *portablePoller) DisarmRead(Token)                        {}

func (p *portablePoller) Wait(_ []Event, timeout time.Duration) (int, error) {
	defer p.sleeping.Store(false)
	switch {
	case timeout == 0:
		select {
		case <-p.wakeCh:
		default:
		}
	case timeout < 0:
		<-p.wakeCh
	default:
		p.timer.Reset(timeout)
		select {
		case <-p.wakeCh:
		case <-p.timer.C:
		}
		p.timer.Stop()
	}
	return 0, nil
}

func (p *portablePoller) PrepareSleep() { p.sleeping.Store(true) }
func (p *portablePoller) CancelSleep()  { p.sleeping.Store(false) }

func (p *portablePoller) Wake() {
	if p.sleeping.CompareAndSwap(true, false) {
		select {
		case p.wakeCh <- struct{}{}:
		default:
		}
	}
}

func (p *portablePoller) Free() error { p.timer.Stop(); return nil }
