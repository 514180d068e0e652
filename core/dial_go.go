package core

import (
	"net"
	"time"
)

// goDial is a goroutine-backed connection attempt: net.Dialer, which
// resolves names and tries each address, on a goroutine; the main thread
// finishes it.
type goDial struct{}

// abandon: cancelling the Connector's context stops the dial.
func (goDial) abandon(error) {}

func dialGo(c *Connector, timeout time.Duration) dialer {
	r := c.r
	ctx, cancel := contextWithTimeout(timeout)
	c.cancel = cancel
	r.spawn(func() {
		d := net.Dialer{}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		cancel()
		if r.CallFromThread(func() { c.dialed(conn, err) }) != nil && conn != nil {
			conn.Close()
		}
	})
	return goDial{}
}

// dialed finishes a dial on the main thread.
func (c *Connector) dialed(conn net.Conn, err error) {
	if c.done {
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		c.fail(dialError(c.addr, err))
		return
	}
	c.connected()
	c.established(newGoConn(c.r, conn, c.cfg))
}
