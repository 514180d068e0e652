// Command echo is a minimal echo server on the reactor: every connection
// gets back what it sends (Twisted's echoserv.py, in Go).
//
//	go run ./examples/echo -addr 127.0.0.1:7000 [-backend epoll|poll] [-tls-cert cert.pem -tls-key key.pem]
//
// With -tls-cert and -tls-key it serves the same echo over TLS
// (core.ListenTLS: the handshakes run on goroutines, never on the main
// thread, and each connection is goroutine-backed).
//
// It prints the address it listens on and stops cleanly on SIGINT or
// SIGTERM: connections are flushed and closed before it exits.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/threadedselect/reactor/core"
)

// echo writes back every byte it receives.
type echo struct{ t core.Transport }

func (e *echo) ConnectionMade(t core.Transport) { e.t = t }
func (e *echo) DataReceived(data []byte)        { e.t.Write(data) }
func (e *echo) ConnectionLost(error)            {}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address to listen on")
	backend := flag.String("backend", "", fmt.Sprintf("poller backend, one of %v (default: the first)", core.Backends()))
	certFile := flag.String("tls-cert", "", "serve TLS with this certificate `file` (PEM); needs -tls-key")
	keyFile := flag.String("tls-key", "", "the certificate's private key `file` (PEM)")
	flag.Parse()
	if (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(os.Stderr, "echo: -tls-cert and -tls-key go together")
		os.Exit(2)
	}
	var tlsConfig *tls.Config
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(2)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	r, err := core.New(core.WithBackend(*backend))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(2)
	}
	// WithBackpressure: while a connection's unsent bytes are above the
	// high-water mark, stop reading from it. A peer that sends without
	// reading then fills its own socket buffers, not this process.
	factory := core.FactoryFunc(func(net.Addr) (core.Protocol, error) { return &echo{}, nil })
	var port *core.Port
	if tlsConfig != nil {
		port, err = r.ListenTLS(*addr, tlsConfig, factory, core.WithBackpressure())
	} else {
		port, err = r.ListenTCP(*addr, factory, core.WithBackpressure())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	kind := ""
	if tlsConfig != nil {
		kind = ", TLS"
	}
	fmt.Printf("echo: listening on %s (%s backend%s)\n", port.Addr(), r.Backend(), kind)

	// On SIGINT/SIGTERM: stop listening, flush and close every connection,
	// then let Run return.
	r.OnShutdown(func() <-chan struct{} {
		port.StopListening()
		return r.LoseAllConnections()
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		slog.Info("echo: stopping", "signal", s.String())
		r.Stop()
	}()

	if err := r.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	fmt.Println("echo: stopped")
}
