// Package netio is the seam between a game's network code and the reactor:
// an interface, Net, with the handful of reactor calls a game makes to open
// connections and to keep time (ConnectTCP, ListenTCP, ListenUDP, Now,
// CallLater, CallEvery), and Reactor, which implements it on a
// core.Reactor with nothing in between.
//
// A game written against Net instead of *core.Reactor can be run, without a
// change to its code, through layers that implement Net by wrapping another
// Net: package netsim delays, drops and duplicates what goes through it
// (a network conditions simulator), package replay records every event the
// game observes to a file and plays the file back with no sockets at all.
// They stack: replay.Recorder over netsim.Conditions over Reactor records
// what the game saw through the simulated network.
//
// Every method of every implementation runs on the reactor's main thread,
// like the reactor's own (see package core).
package netio

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/threadedselect/reactor/core"
)

// Net is what a game opens connections and schedules work through. Its
// methods have the contract of the core.Reactor methods of the same name;
// the handles they return are interfaces that *core.DelayedCall,
// *core.Connector, *core.Port and *core.UDPPort satisfy. Main thread.
type Net interface {
	// Now is the time by the reactor's clock, as the game sees it.
	Now() time.Time
	// CallLater runs f on the main thread after d.
	CallLater(d time.Duration, f func()) (Timer, error)
	// CallEvery runs f on the main thread every interval until cancelled.
	CallEvery(interval time.Duration, f func()) (Timer, error)
	// ConnectTCP connects to addr and calls f.BuildProtocol once connected,
	// f.ConnectionFailed if it cannot.
	ConnectTCP(addr string, f core.ClientFactory, timeout time.Duration, opts ...core.ListenOption) (Dialing, error)
	// ListenTCP accepts connections on addr, each with a Protocol from f.
	ListenTCP(addr string, f core.Factory, opts ...core.ListenOption) (Listener, error)
	// ListenUDP opens a UDP port on addr and delivers its datagrams to p.
	ListenUDP(addr string, p core.DatagramProtocol) (PacketPort, error)
}

// Timer is a scheduled call (CallLater, CallEvery); *core.DelayedCall
// implements it.
type Timer interface {
	// Cancel unschedules the call; an error matching core.ErrAlreadyCalled
	// or core.ErrAlreadyCancelled if it ran or was cancelled.
	Cancel() error
	// Active reports whether the call is still scheduled.
	Active() bool
}

// Dialing is a connection attempt (ConnectTCP); *core.Connector
// implements it.
type Dialing interface {
	// Cancel stops the attempt; the factory's ConnectionFailed gets an
	// error matching core.ErrAborted. It does nothing once connected.
	Cancel()
}

// Listener is a listening TCP port (ListenTCP); *core.Port implements it.
type Listener interface {
	Addr() net.Addr
	StopListening() error
}

// PacketPort is a UDP port (ListenUDP); *core.UDPPort implements it.
type PacketPort interface {
	LocalAddr() netip.AddrPort
	Connect(peer netip.AddrPort) error
	Write(b []byte) error
	WriteTo(b []byte, addr netip.AddrPort) error
	Close() error
	Stats() core.UDPStats
}

// Reactor returns the Net of r itself: every call goes straight to r.
func Reactor(r *core.Reactor) Net { return direct{r} }

type direct struct{ r *core.Reactor }

func (d direct) Now() time.Time { return d.r.Now() }

func (d direct) CallLater(dur time.Duration, f func()) (Timer, error) {
	c, err := d.r.CallLater(dur, f)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (d direct) CallEvery(interval time.Duration, f func()) (Timer, error) {
	if f == nil || interval <= 0 {
		return nil, fmt.Errorf("%w: CallEvery needs a function and a positive interval (got %v)", core.ErrInvalidArgument, interval)
	}
	return d.r.CallEvery(interval, f), nil
}

func (d direct) ConnectTCP(addr string, f core.ClientFactory, timeout time.Duration, opts ...core.ListenOption) (Dialing, error) {
	c, err := d.r.ConnectTCP(addr, f, timeout, opts...)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (d direct) ListenTCP(addr string, f core.Factory, opts ...core.ListenOption) (Listener, error) {
	p, err := d.r.ListenTCP(addr, f, opts...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (d direct) ListenUDP(addr string, p core.DatagramProtocol) (PacketPort, error) {
	u, err := d.r.ListenUDP(addr, p)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// String names the implementation, for logs.
func (d direct) String() string { return fmt.Sprintf("netio.Reactor(%s)", d.r.Backend()) }
