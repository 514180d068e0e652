package asynclog_test

import (
	"log/slog"
	"os"

	"github.com/threadedselect/reactor/core/asynclog"
)

// A server's logger: records go to stderr (here stdout, to show them)
// through a queue, so a slow reader of the output can never hold up the
// goroutine that logs. Close writes what is still queued.
func Example() {
	text := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey { // for a stable output
				return slog.Attr{}
			}
			return a
		},
	})
	h := asynclog.New(text, &asynclog.Options{QueueSize: 4096})
	log := slog.New(h)
	log.Info("listening", "addr", "127.0.0.1:7777")
	log.With("player", 3).Warn("leave", "reason", "slow")
	if err := h.Close(); err != nil {
		log.Error("close", "err", err)
	}
	// Output:
	// level=INFO msg=listening addr=127.0.0.1:7777
	// level=WARN msg=leave player=3 reason=slow
}
