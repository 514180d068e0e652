// Package netclient is the client side of the example multiplayer game's
// network session, on the project's reactor (package core). The headless
// bots and the Ebiten client both use it; it has no graphics and starts no
// goroutines.
//
// # Threading
//
// Everything runs on the reactor's main thread: Dial, every method of
// Session, and the callbacks in Config. In the Ebiten client that thread is
// Ebiten's Update goroutine (package ebitenreactor drains the reactor there),
// so the game reads a Session directly each frame, with no locks and no
// channels. In a headless program (the bots) it is the goroutine that calls
// core.Reactor.Run.
//
// # Life of a session
//
//	sess, err := netclient.Dial(r, netclient.Config{Addr: "127.0.0.1:7777", Name: "alice", UDP: true})
//
// Dial starts a session.Client (package core/session), which connects,
// presents the player's name in its handshake, keeps the connection alive
// (pings both ways, the RTT), binds UDP, and reconnects by itself with
// backoff when the connection is lost or the server shuts down or restarts
// (Config.NoReconnect and Config.MaxAttempts bound that). On every welcome
// the session reads the game's part (the tick rate and the arena) and,
// unless the server resumed the player, starts the game's state afresh.
// The server then sends a PlayerInfo for everybody present. From then on
// the session:
//
//   - samples the buttons the game set with SetButtons once per server tick,
//     on a timer of its own at the tick rate, and sends each as a sequenced
//     Input through a game.Predictor, which moves the own player at once
//     (client-side prediction). Ticks with no button held send nothing;
//   - receives a Snapshot every server tick, decoded without allocating into
//     a reused slice, reconciles the own player with it (the Predictor
//     replays the inputs the server had not applied yet) and buffers it in
//     a game.Interpolator, which draws the others a little in the past;
//   - gets its snapshots over UDP once the session package has bound its
//     UDP port (Config.UDP), over TCP before and whenever UDP fails;
//   - keeps the players' names from PlayerInfo and PlayerLeft.
//
// # Other transports
//
// Config.Dial replaces the TCP connection with another byte stream:
// WebSocket (Dial: netclient.WebSocket("wss://host/ws", nil)), as the
// client in the browser connects, where it is the only way (and there is
// no UDP: snapshots come over the WebSocket), or TLS (netclient.TLS(addr,
// config)), or a program's own Dialer. Everything else is the same.
//
// # What the game reads each frame
//
//	st := sess.State()            // status, cause, RTT, counters (a small struct, no allocation)
//	me, ok := sess.Self()         // own player, predicted; ok is false until the first snapshot
//	others = sess.Remote(others[:0]) // everybody else, interpolated, by increasing id
//	name, _ := sess.Name(id)
//
// State.Status says what to show: StatusConnecting, StatusConnected,
// StatusReconnecting (was in, lost it, connecting again: State.Cause says
// why, State.Connects counts the welcomes), StatusFailed (never got in: State.Cause and State.Err or State.Reason say
// why, e.g. CauseUnreachable with a connection refused, or CauseRejected
// with the server's "server full"), or StatusDisconnected (was in: the
// server shut down, kicked the client with a reason, the connection was
// lost, or the player quit). Config.OnStatus is called on every change, for
// programs that prefer a callback.
//
// # Quitting cleanly
//
// Goodbye says goodbye (the session package's Bye) and closes the connection once it is flushed; the
// channel it returns is closed when the connection is gone, so a
// Before-shutdown trigger can wait for it:
//
//	r.OnShutdown(func() <-chan struct{} {
//		return sess.Goodbye()
//	})
package netclient
