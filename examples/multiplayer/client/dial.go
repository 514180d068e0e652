package main

import "github.com/threadedselect/reactor/examples/multiplayer/netclient"

// dialer returns how the session connects: over WebSocket to -ws, over TLS
// to -addr (-tls, -tls-ca), or nil for TCP (and UDP) to -addr.
func dialer(o options) (netclient.Dialer, error) {
	switch {
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
