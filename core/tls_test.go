//go:build unix

package core

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "reactor test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	leaf, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestTLSEcho: a TLS server and client on the reactor, on every backend
// and driver: the handshake happens off the main thread, the bytes come
// back intact, both sides see a clean close.
func TestTLSEcho(t *testing.T) {
	cert, pool := testCert(t)
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		port, err := r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}, echoFactory())
		must(t, err)
		payload := make([]byte, 3<<20)
		fillRandom(payload, 5)
		var got []byte
		var lost error
		client := ClientFuncs{
			Build: func(net.Addr) (Protocol, error) {
				p := &protoFuncs{}
				p.made = func(tr Transport) {
					if _, err := tr.Write(payload); err != nil {
						t.Error(err)
					}
				}
				p.data = func(b []byte) {
					got = append(got, b...)
					if len(got) == len(payload) {
						p.t.LoseConnection()
					}
				}
				p.lost = func(err error) { lost = err; must(t, r.Stop()) }
				return p, nil
			},
			Failed: func(err error) { t.Errorf("ConnectionFailed: %v", err); r.Stop() },
		}
		must(t, r.ConnectTLS(context.Background(), port.Addr().String(), &tls.Config{RootCAs: pool}, client))
		h.runReactor(r)
		if !bytes.Equal(got, payload) {
			t.Fatalf("echoed %d of %d bytes, equal: %v", len(got), len(payload), bytes.Equal(got, payload))
		}
		if !errors.Is(lost, ErrConnectionDone) {
			t.Fatalf("client lost: %v", lost)
		}
	})
}

// TestTLSHandshakeFailure: a client that does not trust the server's
// certificate gets ConnectionFailed with an error that errors.As reaches
// as the TLS verification error; the server's main thread never sees the
// connection.
func TestTLSHandshakeFailure(t *testing.T) {
	cert, _ := testCert(t)
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		built := 0
		port, err := r.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}},
			FactoryFunc(func(net.Addr) (Protocol, error) { built++; return &protoFuncs{}, nil }))
		must(t, err)
		var failed error
		client := ClientFuncs{
			Build: func(net.Addr) (Protocol, error) {
				t.Error("built a protocol for a failed handshake")
				return &protoFuncs{}, nil
			},
			Failed: func(err error) { failed = err; must(t, r.Stop()) },
		}
		must(t, r.ConnectTLS(context.Background(), port.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()}, client))
		h.runReactor(r)
		var ve *tls.CertificateVerificationError
		if !errors.As(failed, &ve) || !errors.Is(failed, ErrBadInput) {
			t.Fatalf("ConnectionFailed(%v), want a certificate verification error", failed)
		}
		if built != 0 {
			t.Fatalf("the server built %d protocols for failed handshakes", built)
		}
	})
}
