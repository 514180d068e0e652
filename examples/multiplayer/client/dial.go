package main

import (
	"github.com/threadedselect/reactor/core/ws"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// dialer returns how the session connects: over WebSocket to -ws (a wss://
// server certified by -tls-ca trusted too), over TLS to -addr (-tls,
// -tls-ca), or nil for TCP (and UDP) to -addr.
func dialer(o options) (netclient.Dialer, error) {
	switch {
	case o.ws != "" && o.tlsCA != "":
		cfg, err := netclient.TLSClientConfig(o.tlsCA)
		if err != nil {
			return nil, err
		}
		return netclient.WebSocket(o.ws, &ws.Options{TLS: cfg}), nil
	case o.ws != "":
		return netclient.WebSocket(o.ws, nil), nil
	case o.tls || o.tlsCA != "":
		cfg, err := netclient.TLSClientConfig(o.tlsCA)
		if err != nil {
			return nil, err
		}
		return netclient.TLS(o.addr, cfg), nil
	}
	return nil, nil
}
