// Package session is the session layer every networked game needs, on the
// reactor (package core) and package framing: a handshake that gives each
// client an id and a secret token, typed messages routed to handlers,
// keepalive with round-trip times, timeouts on both sides, reconnection with
// backoff, resumption of a lost session within a grace period, limits, a
// clean goodbye, and an optional UDP path for unreliable messages. It knows
// nothing of any game: the application's messages are payloads whose first
// byte is their type.
//
// # Threading
//
// Everything runs on the reactor's main thread: Dial and Listen (or before
// the reactor starts), every method, every handler and callback. In an
// Ebiten game that thread is the game's Update goroutine (package
// ebitenreactor drains the reactor there), so a game reads a Client each
// frame with no locks; in a headless server it is the goroutine that calls
// core.Reactor.Run. The package starts no goroutines, and all its timing
// uses the reactor's clock (core.WithClock), so tests can use a
// core.FakeClock.
//
// # Messages
//
// Every message on the TCP connection is one frame of package framing (a
// uvarint length, then the payload); every UDP datagram is one bare payload.
// The payload's first byte is its type: 0 to FirstReserved-1 belong to the
// application, the rest to this package. Register a handler per type with
// Client.Handle and Server.Handle. To send, append the message's fields to
// the reused buffer that Begin returns, then Send it; neither allocates in
// steady state:
//
//	const msgInput = 1
//	c.Handle(msgState, func(p []byte) error { ...; return nil }) // p[0] == msgState
//	b := c.Begin(msgInput)
//	b = append(b, dir)
//	err := c.Send(b)              // TCP, in order
//	err = c.SendUnreliable(b)     // UDP once bound, else TCP
//
// A message of a type nobody handles, or a handler's error, is a protocol
// error: the client drops the connection (CauseProtocol) and the server
// kicks the client (ReasonProtocol, with the error's text). Over UDP such a
// datagram is only counted.
//
// # The handshake
//
//	client                                 server
//	TCP connect                ──────────▶ handshake deadline starts
//	Hello{app, [id, token], hello data} ─▶ app and version checked, limits checked,
//	                                       a resume token looked up, ServerConfig.Accept
//	                           ◀────────── Bye{reason, text}, then close: refused
//	                           ◀────────── Welcome{id, token, resumed, UDP port, idle timeout, welcome data}
//	Ping{t} / Pong{t}          ◀─────────▶ both ways, every PingInterval: keepalive and RTT
//	app messages               ◀─────────▶ to the handlers
//	Bye{reason, text}          ◀─────────▶ quit, kick, shutdown; then close
//
// # Client
//
// Dial connects and keeps connecting: State says what to show (Connecting,
// Connected, Reconnecting, Disconnected, with a Cause, the server's Reason
// and an Err), the round trip (State.RTT: smoothed and jitter) and the UDP
// path. A connection lost without a Bye, a server that went silent
// (ClientConfig.IdleTimeout), a server shutdown, or a refusal that may pass
// (server full) make it reconnect after a backoff with jitter; a kick, a
// version mismatch, a refusal by the application or a protocol error end
// it. Each reconnection presents the token of the last welcome: a server
// that still holds the session (within ServerConfig.Grace) gives it back,
// with the same id (Welcome.Resumed); one that restarted makes a new one.
// ClientConfig.OnConnect runs on every welcome, to tell the server what it
// must know.
//
// Goodbye sends a Bye, flushes and closes, and returns a channel closed
// when the connection is gone; Dial registers a before-shutdown trigger
// that calls it, so stopping the reactor (closing the game's window)
// always says goodbye first.
//
// # Server
//
// Listen keeps a table of sessions: ids (the smallest free one, from 1),
// tokens, and connections. It drops a connection that does not say Hello
// within ServerConfig.HandshakeTimeout, goes silent for IdleTimeout, or
// answers no ping for PongTimeout (a client that writes but never reads);
// refuses clients beyond MaxSessions ("server full (64 sessions)") or
// beyond the per-address limits (an IPv4 address or an IPv6 /64) with a
// Bye that says so; and keeps a session whose connection was lost for
// Grace, for its client to resume.
// OnJoin, OnResume, OnDetach and OnLeave tell the application; Peer.Data
// carries its state. LoseAll(reason) ends everything with a Bye and
// returns a channel closed when every connection is gone; Listen registers
// a before-shutdown trigger that calls it. Log lines that clients can
// cause are rate limited (ServerConfig.LogRate).
//
// # Other transports and networks
//
// A server listens with TLS with ServerConfig.TLS, and takes connections
// from any other transport (WebSocket, package core/ws) through
// Server.Factory. A client connects through ClientConfig.Dial instead of
// TCP (TLS, WebSocket, ...), and through ClientConfig.Net (a simulated
// network, package netsim; record and replay) for TCP, UDP and time.
//
// # UDP
//
// With ClientConfig.UDP and ServerConfig.UDP, the welcome carries the
// server's UDP port; the client sends Bind{id, token} over UDP until the
// server confirms with Bound over UDP (it answers nothing else to an
// address it does not know, and accepts a binding only from the IP address
// of the session's TCP connection). From then on SendUnreliable travels
// over UDP both ways, and the client pings over UDP too. When UDP stops
// arriving (ClientConfig.UDPTimeout, ServerConfig.UDPTimeout), or the
// binding is never confirmed, both ends fall back to TCP, and the client
// tries UDP again after ClientConfig.UDPRetry.
package session
