package gameserver

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrTooManyFromAddr: refused at accept, the client's address has twice
// Config.MaxConnsPerAddr connections open (up to that, a refused connection
// gets a Reject that says why).
var ErrTooManyFromAddr = errors.New("gameserver: too many connections from one address")

// addrUse is what one address (see addrKey) holds.
type addrUse struct {
	conns    int // open connections, refused ones excepted
	refusing int // connections being refused with a Reject
	players  int // joined players
}

// addrKey groups addresses for the per-address limits: an IPv4 address, or
// the /64 of an IPv6 address (one host or one customer usually has a whole
// /64, so counting single IPv6 addresses would limit nothing).
func addrKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, err := ip.Prefix(64)
	if err != nil { // the zero Addr: not from TCP
		return netip.Prefix{}
	}
	return p
}

// limited reports whether the per-address limits apply to ip.
func (s *Server) limited(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.AddrLimitExempt {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// use returns the record of key, making it if needed.
func (s *Server) use(key netip.Prefix) *addrUse {
	u := s.addrs[key]
	if u == nil {
		u = &addrUse{}
		s.addrs[key] = u
	}
	return u
}

// release forgets key once it holds nothing, so the map does not grow
// with the number of addresses ever seen.
func (s *Server) release(key netip.Prefix) {
	if u := s.addrs[key]; u != nil && u.conns == 0 && u.refusing == 0 && u.players == 0 {
		delete(s.addrs, key)
	}
}

// admitConn decides, at accept, about a new connection from c's address:
// "" to take it, a reason to refuse it with a Reject, or an error to close it
// at once.
func (s *Server) admitConn(c *conn) (refuse string, err error) {
	if !c.limited {
		return "", nil
	}
	u := s.addrs[c.key]
	switch {
	case u == nil || u.conns < s.cfg.MaxConnsPerAddr:
		return "", nil
	case u.refusing < s.cfg.MaxConnsPerAddr:
		return fmt.Sprintf("too many connections from your address (at most %d)", s.cfg.MaxConnsPerAddr), nil
	}
	return "", fmt.Errorf("%w: %d open from %v", ErrTooManyFromAddr, u.conns+u.refusing, c.key)
}

// admitPlayer returns why a Hello from c's address is refused, or "".
func (s *Server) admitPlayer(c *conn) string {
	if !c.limited {
		return ""
	}
	if u := s.addrs[c.key]; u != nil && u.players >= s.cfg.MaxPlayersPerAddr {
		return fmt.Sprintf("too many players from your address (at most %d)", s.cfg.MaxPlayersPerAddr)
	}
	return ""
}

// connOpened and connClosed count c's connection for its address.
func (s *Server) connOpened(c *conn) {
	if !c.limited {
		return
	}
	u := s.use(c.key)
	if c.refuse != "" {
		u.refusing++
	} else {
		u.conns++
	}
}

func (s *Server) connClosed(c *conn) {
	if !c.limited {
		return
	}
	if u := s.addrs[c.key]; u != nil {
		if c.refuse != "" {
			u.refusing--
		} else {
			u.conns--
		}
		s.release(c.key)
	}
}

// playerJoined and playerLeft count c's player for its address.
func (s *Server) playerJoined(c *conn) {
	if c.limited {
		s.use(c.key).players++
	}
}

func (s *Server) playerLeft(c *conn) {
	if !c.limited {
		return
	}
	if u := s.addrs[c.key]; u != nil {
		u.players--
		s.release(c.key)
	}
}
