// Package gameserver is the authoritative server of the example multiplayer
// game, on the project's reactor (package core) and nothing else: no
// graphics, no goroutines of its own. The command in the parent directory is
// a thin wrapper around it; tests and benchmarks run it in-process.
//
// Every callback of the server runs on the reactor's main thread, so its
// state needs no locks. Methods of Server must be called there too (or
// before the reactor starts), except where they say otherwise.
//
// # Wire format
//
// The sessions are package core/session's: its handshake (App "arena/1",
// the player's name as the hello data; the welcome gives the player id,
// which is the session id, and carries the tick rate and the arena's size,
// game.AppendWelcomeData), its keepalive pings both ways, its goodbye
// (Bye), its per-address limits, refusals and UDP binding. On top of it the
// game's own messages of package game (first byte: their MsgType):
//
//	client                                   server
//	(session handshake, name)    ───────────▶ name checked (names.go), room checked
//	                             ◀─────────── refusal (Bye with the reason), or welcome
//	                             ◀─────────── PlayerInfo for everybody present (itself included)
//	                                          PlayerInfo{new player} to everybody else
//	Input{id, seq, buttons}      ───────────▶ at the client's tick rate (idle ticks may be skipped)
//	                             ◀─────────── Snapshot{tick, last input, players} every tick:
//	                                          over UDP once bound, over TCP before
//	                             ◀─────────── PlayerInfo / PlayerLeft as players come and go
//
// # Other transports
//
// The byte stream can come another way than plain TCP, with the same
// messages and limits: over TLS on the game port (Config.TLS, through
// core.ListenTLS), and over WebSocket (WebSocketHandler, an http.Handler
// to mount on any HTTP server: each WebSocket is a player's stream, in
// binary messages, addressed and limited by the HTTP peer's address).
// Browsers connect that way; they have no UDP, so their snapshots come
// over the WebSocket, beside players on TCP and UDP in the same match.
//
// # UDP binding
//
// The server listens for UDP on the same host and port number as TCP, and
// the session's welcome tells the client that port. It never sends a
// datagram to an address that has not presented a valid Bind (the session
// package's: the session id and the 16-byte secret token of the welcome,
// compared in constant time) from the same IP address as the player's TCP
// connection; it confirms a valid one with a Bound datagram. Invalid binds
// are counted (Stats.UDPRejected) and never answered, so the port cannot
// be used to reflect traffic. A later valid bind moves the binding (a
// client whose NAT mapping changed). Snapshots go over UDP once bound, and
// over TCP again when the client's datagrams stop (the session package's
// fallback).
//
// # Limits and policies
//
// See Config for every default. A refusal is the session package's Bye
// with a reason code and a text the client shows, followed by a clean
// close. In short: client messages are at most Config.MaxMessage bytes; at
// most Config.MaxConns TCP connections (further ones are closed at accept)
// and Config.MaxPlayers players (a Hello beyond is refused, "server full");
// the session's Hello must come within Config.HandshakeTimeout, and a
// player must send something (inputs; its client's keepalive Pings do) at
// least every Config.IdleTimeout.
//
// Every Hello gets an answer: a Welcome, or a Bye that says why: another
// game or version (the App "arena/1" differs), a refused name, a full
// server, too many connections or players from the address.
//
// One address (an IPv4 address, or an IPv6 /64) may hold at most
// Config.MaxConnsPerAddr connections and Config.MaxPlayersPerAddr players,
// so that it cannot take the slots of everybody else; a client beyond is
// refused saying so (beyond twice as many connections, a connection is
// closed at accept). Loopback is exempt by default
// (Config.AddrLimitExempt).
//
// Names (names.go): the PRECIS Nickname profile (RFC 8266) and, word by
// word, the PRECIS IdentifierClass refuse invisible, control and
// unassigned characters, blank-looking symbols and leading combining
// marks; a name confusable with a connected player's (same after case
// folding and the Unicode TR39 skeleton) is refused as "name in use". A
// player waiting to be resumed keeps its name.
//
// Inputs (inputlimit.go) are judged by what they claim: their sequence
// numbers start at 1 and an honest client sends at most one per tick, so a
// number above Config.InputRate × the time since joining, plus
// Config.FloodTolerance, disconnects the client (reason=error, "flood"), and
// so does sending more than Config.InputRate inputs a second on average
// with a burst deeper than the idle timeout. Inputs that queued up behind a
// stalled network or a paused server and arrive together are no flood. The
// world applies at most Config.InputRate inputs a second with a burst of
// Config.InputBurst and drops the rest (the client's prediction corrects
// itself). Pings are the session package's keepalive, answered by it.
//
// A malformed message, a message of a type the server does not take (the
// game's server-to-client messages included), or an input claiming another
// player's id ends that player's session at once with a logged reason;
// nobody else is affected. The client gets a Bye with the reason (a
// protocol error, with the error's text, so it can show why) and the
// connection is closed once that is sent, or aborted if the client has not
// closed its side within Config.Linger. Bad bytes from a connection that
// never joined (an oversized or malformed frame) close it at once.
//
// Lost connections and resume: a player whose connection breaks (a reset,
// or silence for Config.IdleTimeout) stays in the world, with its id, its
// name and its position, for Config.Grace (default 5 s, -grace on the
// command line), and its client, which reconnects by itself presenting the
// session's token, gets it back (msg=detach, then msg=resume). A client
// that does not come back within the grace period finds a new player when
// it does; the old one leaves (msg=leave, with how its connection was lost
// and "not resumed within"). A player whose client closed its connection
// without a goodbye (a process that exited, a browser tab closed) leaves
// at once: nothing will come back to it.
//
// Slow clients (slowclient.go): every player, bound to UDP or not, whose
// unsent TCP data (the connection's queue in the process plus, on Linux,
// what the kernel holds) stays above Config.SlowClientQueue for
// Config.SlowClientTimeout is kicked with reason=slow; meanwhile its TCP
// snapshots are skipped, since the next tick supersedes them. A queue in
// the process above four times the bound kicks at once, and the kernel's
// send buffer is capped (Config.SendBuffer), so a client that never reads
// costs bounded memory. The kernel can also hide such a client from those
// queues: the client's own receive buffer may grow to megabytes,
// acknowledging everything, while it reads nothing. So the session package
// pings every player over TCP once a second, and a player that has not
// answered a Ping sent more than Config.SlowClientTimeout + 1 s ago loses
// its connection (session.ErrNotReading), which its leave line reports as
// reason=slow too. Every connection reads at most 64 KiB ahead of the
// server, so a flood is pushed back by TCP rather than buffered.
//
// # Logs
//
// Through log/slog: msg=listening once; msg=join (player, name, addr);
// msg=detach (player, name, addr, grace, detail) and msg=resume (player,
// name, addr, resumes) around a resumed connection; msg=leave (player,
// name, addr, reason=quit|closed|timeout|error|slow|shutdown, and detail for
// timeout, error and slow). The session package logs the refusals
// (msg="session: refuse": addr, reason, detail) and the connections that
// never joined and were closed (msg="session: drop": addr, err); its own
// lines about joins, leaves, detaches and resumes are left out, so each
// event is logged once, by the game, with the player's name. Those lines
// are caused by remote peers, so they share a budget (Config.PeerLogRate):
// lines over it are counted, and a msg=suppressed line (lines, total)
// reports them at most once a second. Every Config.StatsInterval,
// msg=stats with players, conns, tick_p50_ms, tick_p99_ms, in_bps,
// out_bps (the reactor's byte counters: the whole process when the server
// owns its reactor), udp_clients, inputs_dropped, snapshots_skipped,
// slow_drops and logs_suppressed.
//
// The server logs from the reactor's main thread; give it a Logger whose
// handler never blocks (the command uses core/asynclog), or a slow log
// sink stalls the game.
package gameserver
