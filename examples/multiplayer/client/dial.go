package main

import "github.com/threadedselect/reactor/examples/multiplayer/netclient"

// dialer returns how the session connects: over WebSocket to -ws, or nil
// for TCP (and UDP) to -addr.
func (g *Game) dialer() netclient.Dialer {
	if g.opts.ws == "" {
		return nil
	}
	return netclient.WebSocket(g.opts.ws, nil)
}
