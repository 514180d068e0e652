package main

import (
	"path/filepath"
	"testing"

	"github.com/threadedselect/reactor/internal/testcert"
)

// The flags choose the connection: TCP by default, WebSocket with -ws,
// TLS with -tls or -tls-ca (whose file must hold a certificate).
func TestDialerFromFlags(t *testing.T) {
	dir := t.TempDir()
	cert := testcert.New(t, dir)
	for _, tc := range []struct {
		name    string
		o       options
		want    bool // a Dialer, not TCP
		wantErr bool
	}{
		{"tcp", options{addr: "127.0.0.1:1"}, false, false},
		{"ws", options{addr: "127.0.0.1:1", ws: "ws://127.0.0.1:1/ws"}, true, false},
		{"tls", options{addr: "127.0.0.1:1", tls: true}, true, false},
		{"tls-ca", options{addr: "127.0.0.1:1", tlsCA: cert.CertFile}, true, false},
		{"tls-ca missing", options{addr: "127.0.0.1:1", tlsCA: filepath.Join(dir, "none.pem")}, false, true},
		{"tls-ca not a certificate", options{addr: "127.0.0.1:1", tlsCA: cert.KeyFile}, false, true},
		{"wss with tls-ca", options{addr: "127.0.0.1:1", ws: "wss://127.0.0.1:1/ws", tlsCA: cert.CertFile}, true, false},
		{"wss with tls-ca missing", options{addr: "127.0.0.1:1", ws: "wss://127.0.0.1:1/ws", tlsCA: filepath.Join(dir, "none.pem")}, false, true},
	} {
		d, err := dialer(tc.o)
		if (err != nil) != tc.wantErr || (d != nil) != tc.want {
			t.Errorf("%s: dialer %v, err %v; want a dialer %v, an error %v", tc.name, d != nil, err, tc.want, tc.wantErr)
		}
	}
}
