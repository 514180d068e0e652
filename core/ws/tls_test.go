//go:build !js

package ws_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/ws"
	"go.uber.org/goleak"
)

// TestWebSocketDialTLSPrivateCA: Dial reaches a wss:// server whose
// self-signed certificate only Options.TLS trusts, and echoes through it;
// without that option the same dial fails certificate verification, and
// ConnectionFailed's error says so (errors.As to x509.UnknownAuthorityError).
func TestWebSocketDialTLSPrivateCA(t *testing.T) {
	defer goleak.VerifyNone(t)
	r, err := core.New()
	if err != nil {
		t.Fatal(err)
	}
	echo := core.FactoryFunc(func(net.Addr) (core.Protocol, error) {
		p := &proto{}
		p.data = func(b []byte) { _, _ = p.t.Write(b) }
		return p, nil
	})
	srv := httptest.NewUnstartedServer(ws.Handler(r, echo, nil))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	url := "wss" + strings.TrimPrefix(srv.URL, "https")
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	var got []byte
	var untrusted, trustedLost error
	trusted := core.ClientFuncs{
		Build: func(net.Addr) (core.Protocol, error) {
			p := &proto{}
			p.made = func(tr core.Transport) { _, _ = tr.Write([]byte("over wss")) }
			p.data = func(b []byte) {
				got = append(got, b...)
				if len(got) == len("over wss") {
					_ = p.t.LoseConnection()
				}
			}
			p.lost = func(err error) {
				trustedLost = err
				// Then the same server without trusting its CA.
				ws.Dial(context.Background(), r, url, core.ClientFuncs{
					Build:  func(net.Addr) (core.Protocol, error) { t.Error("built without trusting the CA"); return &proto{}, nil },
					Failed: func(err error) { untrusted = err; _ = r.Stop() },
				}, nil)
			}
			return p, nil
		},
		Failed: func(err error) { t.Errorf("dial with the CA trusted: %v", err); _ = r.Stop() },
	}
	ws.Dial(context.Background(), r, url, trusted, &ws.Options{TLS: &tls.Config{RootCAs: roots}})
	ran := make(chan error, 1)
	go func() { ran <- r.Run() }()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		_ = r.CallFromThread(func() { _ = r.Stop() })
		t.Fatalf("timeout (then Run returned %v)", <-ran)
	}
	if string(got) != "over wss" || !errors.Is(trustedLost, core.ErrConnectionDone) {
		t.Fatalf("over wss with the CA trusted: echoed %q, lost with %v", got, trustedLost)
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(untrusted, &unknown) || !strings.Contains(untrusted.Error(), url) {
		t.Fatalf("dial without trusting the CA: %v; want an x509.UnknownAuthorityError naming the URL", untrusted)
	}
}
