// Package replay records a game's network session to a file and replays
// it, bit for bit, with no sockets: the same game code sees the same
// events in the same frames, and a replay checks that it does.
//
// Every byte, datagram, connection event and timer reaches a game on the
// reactor through one place, the main thread; a Recorder sits there, as a
// netio.Net between the game and the reactor (or a netsim.Conditions),
// and writes down what the game observes: the bytes of every stream and
// every datagram, connections made, failed and lost with their reasons,
// the firings of the game's timers, calls marked recordable (Recordable),
// values the game takes from elsewhere (Input: the keys held, a seed), the
// clock, and where each frame ends with a hash of the game's state. It
// writes what the game sends too.
//
// A Player is a netio.Net with no sockets and a core.FakeClock: it hands
// the game those events in the same order at the same recorded times, and
// answers the game's calls (writes, dials, Input) with what they returned
// when recorded, comparing each with the recording; the first difference —
// other bytes written, another state hash at the end of a frame — is
// reported as a *DivergenceError saying where.
//
//	// Recording: the game goes through the Recorder.
//	f, _ := os.Create("session.rec")
//	rec, _ := replay.NewRecorder(f, netio.Reactor(r), replay.Options{Meta: map[string]string{"name": name}})
//	sess, _ := netclient.Dial(r, netclient.Config{Net: rec, ...})
//	// each frame, in Update: rec.BeginFrame(); ...; sess.SetButtons(uint8(rec.Input(uint64(keys)))); rec.EndFrame(sess.StateHash())
//	// at exit: rec.Close(); f.Close()
//
//	// Replaying: the same game code, through a Player.
//	p, err := replay.NewPlayer(f, replay.PlayerOptions{})
//	r, _ := core.New(core.WithClock(p.Clock()))
//	p.Attach(r)
//	sess, _ := netclient.Dial(r, netclient.Config{Net: p, ...})
//	// each frame: p.BeginFrame(); ...; keys = p.Input(keys); p.EndFrame(sess.StateHash()); stop when p.Done()
//
// What the game must do for a faithful replay: go through the Net for
// everything it observes (connections, datagrams, timers, the time), mark
// the calls that reach it from elsewhere with Recordable (a shutdown
// trigger, a goroutine's CallFromThread), read outside values through
// Input, and be deterministic otherwise (seed its random numbers through
// Input). The Tape interface is what both sides offer such a game.
//
// # The file
//
// A compact, versioned binary format (see format.go): an 8-byte magic, a
// version, a header (start time, metadata), then records in blocks of up
// to 32 KiB, each with its length and a CRC-32C, and an end record. Records
// are a type byte and uvarint fields, times as deltas, datagram sources
// only when they change. Reading is streaming and bounded (one block at a
// time); a file that is not a recording, of another version, damaged
// (a checksum) or cut short (no end record) is an error that says which
// and where: ErrNotReplay, ErrVersion, ErrCorrupt, ErrTruncated. Scan checks
// a whole file.
//
// Recording runs inside the game's callbacks, on the main thread, and
// allocates nothing per event; the file is written a block at a time and
// at least once per second of recording.
package replay

import "github.com/threadedselect/reactor/core/netio"

// Tape is what a Recorder and a Player both offer a game: the Net it goes
// through, and the hooks that keep a replay in step with the recording. A
// game written against Tape records and replays with the same code.
type Tape interface {
	netio.Net
	// BeginFrame: at the top of the game's Update, after the reactor's
	// work for the frame.
	BeginFrame()
	// EndFrame: at the end of the game's Update, with a hash of its state;
	// it reports whether a recorded frame ended (a Player's is over once
	// the recording is).
	EndFrame(stateHash uint64) bool
	// Input: a value the game takes from outside the network.
	Input(v uint64) uint64
	// Recordable and RecordableData wrap calls that reach the game from
	// outside the network and its timers.
	Recordable(name string, fn func()) func()
	RecordableData(name string, fn func([]byte)) func([]byte)
}

var (
	_ Tape = (*Recorder)(nil)
	_ Tape = (*Player)(nil)
)
