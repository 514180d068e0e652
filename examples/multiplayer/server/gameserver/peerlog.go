package gameserver

import (
	"context"
	"log/slog"
	"time"

	"github.com/threadedselect/reactor/examples/multiplayer/game"
)

// peerLog is the budget of the log lines that remote peers can cause
// (Config.PeerLogRate): joins and leaves here; refusals and drops are the
// session package's lines (msg="session: refuse", "session: drop"), under
// a budget of the same rate (session.ServerConfig.LogRate). A peer that can make
// the server log at will can fill a disk or, with a slow log sink, stall
// the server; within the budget every line is logged, beyond it lines are
// counted and a msg=suppressed line reports them at most once a second.
type peerLog struct {
	bucket     *game.TokenBucket // nil: no bound
	pending    uint64            // suppressed since the last report
	lastReport time.Time
	sessSeen   uint64 // the session package's suppressed lines already reported
}

func newPeerLog(rate float64) peerLog {
	if rate <= 0 {
		return peerLog{}
	}
	return peerLog{bucket: game.NewTokenBucket(rate, max(1, int(5*rate)))}
}

// peerLog logs a line a remote peer caused, within the budget.
func (s *Server) peerLog(level slog.Level, msg string, attrs ...any) {
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	pl := &s.plog
	if pl.bucket != nil && !pl.bucket.Allow(s.r.Now()) {
		pl.pending++
		s.stats.LogsSuppressed++
		return
	}
	s.log.Log(context.Background(), level, msg, attrs...)
}

// reportSuppressed logs how many peer lines were suppressed since the last
// report (the game's and the session package's), if any, at most once a
// second. The tick calls it; Shutdown calls it with force.
func (s *Server) reportSuppressed(now time.Time, force bool) {
	pl := &s.plog
	sess := s.sess.Stats().LogSuppressed
	pending := pl.pending + sess - pl.sessSeen
	if pending == 0 || (!force && now.Sub(pl.lastReport) < time.Second) {
		return
	}
	s.log.Warn("suppressed", "lines", pending, "total", s.stats.LogsSuppressed+sess, "limit_per_s", s.cfg.PeerLogRate)
	pl.pending, pl.sessSeen, pl.lastReport = 0, sess, now
}

// onceHandler is the handler of the session package's logger: it drops
// that package's lines about a player's session (join, leave, detach,
// resume), since the server logs each of those events itself, with the
// player's name and the game's reason (msg=join, msg=leave, msg=detach,
// msg=resume), so that each is logged once. Every other line of the
// package (refuse, drop, listening, ...) passes.
type onceHandler struct{ slog.Handler }

// Handle drops the session package's join, leave, detach and resume lines.
func (h onceHandler) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "session: join", "session: leave", "session: detach", "session: resume":
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the filter.
func (h onceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return onceHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the filter.
func (h onceHandler) WithGroup(name string) slog.Handler {
	return onceHandler{h.Handler.WithGroup(name)}
}
