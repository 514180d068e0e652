// Command server is the headless server of the paddles example:
//
//	go run ./examples/paddles/server -addr 127.0.0.1:7000
//
// The first two players to connect get the left and right paddles; anyone
// else watches. SIGINT or SIGTERM says goodbye to every client, then it
// exits.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/examples/paddles/pong"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "TCP and UDP `address` to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := core.New(core.WithLogger(log))
	if err == nil {
		_, err = pong.Serve(r, *addr) // its before-shutdown trigger says goodbye to everybody
	}
	if err != nil {
		log.Error("start", "err", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := r.RunContext(ctx); err != nil { // a signal stops the reactor: goodbyes, then return
		log.Error("reactor", "err", err)
		os.Exit(1)
	}
}
