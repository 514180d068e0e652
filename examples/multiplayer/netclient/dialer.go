package netclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
)

// A Dialer makes the session's stream connection when Config.Dial is set,
// instead of a TCP connection to Config.Addr: it starts connecting and
// returns at once; later, on the main thread, f.BuildProtocol gets the
// connection, or f.ConnectionFailed why there is none. timeout is
// Config.ConnectTimeout. cancel gives the attempt up (f.ConnectionFailed
// follows); it is called at most once, and only before f heard anything.
// Main thread.
type Dialer func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (cancel func(), err error)

// WebSocket returns a Dialer that connects to url (ws:// or wss://) with
// package core/ws: the session's byte stream travels in WebSocket binary
// messages. It works natively and in the browser (GOOS=js), where it is the
// only way out (browsers have no UDP either: leave Config.UDP false). o may
// be nil.
func WebSocket(url string, o *ws.Options) Dialer {
	return func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		ws.Dial(ctx, r, url, releasing(f, cancel), o)
		return cancel, nil
	}
}

// TLS returns a Dialer that connects to addr over TCP and TLS
// (core.ConnectTLS) with config; config.ServerName defaults to addr's host.
func TLS(addr string, config *tls.Config) Dialer {
	return func(r *core.Reactor, f core.ClientFactory, timeout time.Duration) (func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := r.ConnectTLS(ctx, addr, config, releasing(f, cancel)); err != nil {
			cancel()
			return nil, err
		}
		return cancel, nil
	}
}

// TLSClientConfig returns a TLS configuration for TLS that trusts the
// system's certificate authorities and, if caFile is not empty, the
// certificates in that PEM file too (a server's self-signed certificate,
// say). Commands use it for their -tls-ca flag.
func TLSClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("netclient: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("netclient: %w: no certificate in %s", core.ErrInvalidArgument, caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// releasing calls release once f has heard the attempt's outcome (the
// dialers' contexts bound the attempt only).
func releasing(f core.ClientFactory, release func()) core.ClientFactory {
	return core.ClientFuncs{
		Build: func(remote net.Addr) (core.Protocol, error) {
			release()
			return f.BuildProtocol(remote)
		},
		Failed: func(err error) {
			release()
			f.ConnectionFailed(err)
		},
	}
}
