package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/threadedselect/reactor/core"
	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
	"github.com/threadedselect/reactor/examples/multiplayer/bots/swarm"
)

// tapeOptions are the -record and -replay flags.
type tapeOptions struct {
	record, replay string
}

// tape is the bots' recording or replay (package replay), or neither.
type tape struct {
	rec      *replay.Recorder
	player   *replay.Player
	file     *os.File
	hash     uint64 // the bots' state hash after the last recorded event
	closed   bool
	closeErr error
}

func (t *tape) startRecording(path string, cfg swarm.Config, inner netio.Net) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	meta := map[string]string{"program": "bots", "addr": cfg.Addr, "n": strconv.Itoa(cfg.N), "prefix": cfg.Prefix,
		"udp": strconv.FormatBool(cfg.UDP), "seed": strconv.FormatUint(cfg.Seed, 10)}
	rec, err := replay.NewRecorder(f, inner, replay.Options{Meta: meta})
	if err != nil {
		f.Close()
		return err
	}
	t.rec, t.file = rec, f
	return nil
}

// openReplay checks the whole recording first (a damaged file fails here,
// not part-way), then opens it and takes the bots' settings from it.
func (t *tape) openReplay(path string, cfg *swarm.Config, log *slog.Logger) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	info, err := replay.Scan(f)
	if err == nil && info.Meta["program"] != "bots" {
		err = fmt.Errorf("%w: a recording of %q, not of the bots", replay.ErrNotReplay, info.Meta["program"])
	}
	if err == nil {
		_, err = f.Seek(0, 0)
	}
	var p *replay.Player
	if err == nil {
		p, err = replay.NewPlayer(f, replay.PlayerOptions{})
	}
	if err == nil {
		cfg.Addr, cfg.Prefix = info.Meta["addr"], info.Meta["prefix"]
		cfg.UDP = info.Meta["udp"] == "true"
		cfg.N, err = strconv.Atoi(info.Meta["n"])
		if err == nil {
			cfg.Seed, err = strconv.ParseUint(info.Meta["seed"], 10, 64)
		}
		if err != nil {
			err = fmt.Errorf("%w: bad metadata: %v", replay.ErrCorrupt, err)
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	log.Info("replaying", "file", path, "events", info.Records, "duration", info.Duration.String(), "bytes", info.Bytes,
		"bots", cfg.N, "seed", cfg.Seed)
	t.player, t.file = p, f
	return nil
}

// play drives the replay from the reactor's main thread, a batch of
// events per callback, and calls done once it is over.
func (t *tape) play(r *core.Reactor, done func()) {
	var step func()
	step = func() {
		t.player.Play(256)
		if t.player.Done() {
			done()
			return
		}
		_ = r.CallFromThread(step)
	}
	_ = r.CallFromThread(step)
}

// trigger makes the goodbye shutdown trigger recordable.
func (t *tape) trigger(goodbye func() <-chan struct{}) func() <-chan struct{} {
	var tp replay.Tape
	switch {
	case t.rec != nil:
		tp = t.rec
	case t.player != nil:
		tp = t.player
	default:
		return goodbye
	}
	var ch <-chan struct{}
	call := tp.Recordable("goodbye", func() { ch = goodbye() })
	return func() <-chan struct{} {
		ch = nil
		call()
		return ch
	}
}

func (t *tape) mode() string {
	switch {
	case t.rec != nil:
		return "record"
	case t.player != nil:
		return "replay"
	}
	return "none"
}

func (t *tape) err() error {
	switch {
	case t.closeErr != nil:
		return t.closeErr
	case t.rec != nil:
		return t.rec.Err()
	case t.player != nil:
		return t.player.Err()
	}
	return nil
}

// close finishes the recording and closes the file.
func (t *tape) close(log *slog.Logger) {
	if t.closed || t.file == nil {
		return
	}
	t.closed = true
	if t.rec != nil {
		t.closeErr = t.rec.Close()
		st := t.rec.Stats()
		log.Info("recorded", "file", t.file.Name(), "records", st.Records, "bytes", st.Bytes, "err", errString(t.closeErr))
	}
	if err := t.file.Close(); err != nil && t.closeErr == nil {
		t.closeErr = err
	}
}

// botsHash combines the bots' state hashes, in order (FNV-1a).
func botsHash(sw *swarm.Swarm) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range sw.Bots {
		v := b.Session.StateHash()
		for i := 0; i < 8; i++ {
			h = (h ^ (v >> (8 * i) & 0xff)) * 1099511628211
		}
	}
	return h
}
