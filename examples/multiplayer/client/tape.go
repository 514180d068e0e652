package main

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/threadedselect/reactor/core/netio"
	"github.com/threadedselect/reactor/core/replay"
	"github.com/threadedselect/reactor/examples/multiplayer/netclient"
)

// tapeOptions are the -record and -replay flags.
type tapeOptions struct {
	record, replay string
}

// tape is the client's recording or replay (package replay), or neither:
// every method does nothing then.
type tape struct {
	tape   replay.Tape      // rec or player
	rec    *replay.Recorder // -record
	player *replay.Player   // -replay
	file   *os.File

	frames   uint64 // recorded (or replayed) frames ended
	lastHash uint64 // the session's state hash at the end of the last one
	closed   bool
	closeErr error
}

// startRecording records the session to opts.tape.record, through inner
// (the network simulator).
func (t *tape) startRecording(opts options, inner netio.Net) error {
	f, err := os.Create(opts.tape.record)
	if err != nil {
		return fmt.Errorf("-record: %w", err)
	}
	meta := map[string]string{"program": "client", "name": opts.name, "addr": opts.addr, "udp": strconv.FormatBool(opts.udp)}
	rec, err := replay.NewRecorder(f, inner, replay.Options{Meta: meta})
	if err != nil {
		f.Close()
		return fmt.Errorf("-record: %w", err)
	}
	t.rec, t.tape, t.file = rec, rec, f
	return nil
}

// openReplay checks the whole recording (a damaged file fails here, not
// part-way), opens it, and takes the session's settings from it.
func (t *tape) openReplay(opts *options, log *slog.Logger) error {
	f, err := os.Open(opts.tape.replay)
	if err != nil {
		return fmt.Errorf("-replay: %w", err)
	}
	info, err := replay.Scan(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("-replay %s: %w", opts.tape.replay, err)
	}
	if prog := info.Meta["program"]; prog != "client" {
		f.Close()
		return fmt.Errorf("-replay %s: %w: a recording of %q, not of the client", opts.tape.replay, replay.ErrNotReplay, prog)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return fmt.Errorf("-replay: %w", err)
	}
	p, err := replay.NewPlayer(f, replay.PlayerOptions{})
	if err != nil {
		f.Close()
		return fmt.Errorf("-replay %s: %w", opts.tape.replay, err)
	}
	opts.name, opts.addr = info.Meta["name"], info.Meta["addr"]
	opts.udp = info.Meta["udp"] == "true"
	log.Info("replaying", "file", opts.tape.replay, "frames", info.Frames, "duration", info.Duration.String(),
		"bytes", info.Bytes, "name", opts.name, "addr", opts.addr, "udp", opts.udp)
	t.player, t.tape, t.file = p, p, f
	return nil
}

// trigger wraps the goodbye shutdown trigger so that it is recorded, and
// replayed where it was recorded.
func (t *tape) trigger(goodbye func() <-chan struct{}) func() <-chan struct{} {
	if t.tape == nil {
		return goodbye
	}
	var ch <-chan struct{}
	call := t.tape.Recordable("goodbye", func() { ch = goodbye() })
	return func() <-chan struct{} {
		ch = nil
		call()
		return ch
	}
}

// beginFrame starts a frame; it reports whether the replay is over.
func (t *tape) beginFrame() (over bool) {
	if t.tape == nil {
		return false
	}
	t.tape.BeginFrame()
	return t.player != nil && t.player.Done()
}

// input records (or replays) the buttons held.
func (t *tape) input(b uint8) uint8 {
	if t.tape == nil {
		return b
	}
	return uint8(t.tape.Input(uint64(b)))
}

// endFrame ends a frame with the session's state hash.
func (t *tape) endFrame(s *netclient.Session) {
	if t.tape == nil {
		return
	}
	var h uint64
	if s != nil {
		h = s.StateHash()
	}
	if t.tape.EndFrame(h) {
		t.frames++
		t.lastHash = h
	}
}

// stateHash is the state_hash of the exit line: the session's state at
// the end of the last recorded frame, or now without a tape.
func (t *tape) stateHash(s *netclient.Session) uint64 {
	if t.tape != nil {
		return t.lastHash
	}
	if s == nil {
		return 0
	}
	return s.StateHash()
}

func (t *tape) mode() string {
	switch {
	case t.rec != nil:
		return "record"
	case t.player != nil:
		return "replay"
	}
	return ""
}

// err is what went wrong with the recording or the replay.
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
		log.Info("recorded", "file", t.file.Name(), "frames", st.Frames, "records", st.Records, "bytes", st.Bytes,
			"err", errString(t.closeErr))
	}
	if err := t.file.Close(); err != nil && t.closeErr == nil {
		t.closeErr = err
	}
}
