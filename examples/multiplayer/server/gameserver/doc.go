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
// Historical note: the sections below describe the server's policies;
// where they name Hello, Reject, Ping or UDPBind, those are now the
// session package's Hello, Bye, Ping and Bind, and refusals and drops of
// connections that never joined are logged by that package
// (msg="session: refuse", msg="session: drop").
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
// The server listens for UDP on the same host and port number as TCP. It
// never sends a datagram to an address that has not presented a valid
// UDPBind: the player id and the 16-byte token from that player's Welcome
// (crypto/rand, compared in constant time), from the same IP address as the
// player's TCP connection. Invalid binds are counted and ignored; the server
// never answers them, so it cannot be used to reflect traffic. A later valid
// bind moves the binding (a client whose NAT mapping changed). The first UDP
// snapshot a client receives is its confirmation.
//
// # Limits and policies
//
// See Config for every default. In short: client messages are at most
// Config.MaxMessage bytes; at most Config.MaxConns TCP connections (further
// ones are refused at accept) and Config.MaxPlayers players (a Hello beyond
// gets Reject "server full"); Hello must come within Config.HandshakeTimeout
// and a player must send something (inputs, pings) at least every
// Config.IdleTimeout.
//
// Every Hello gets an answer: a Welcome, or a Reject that says why (another
// protocol version, whatever its size; a malformed Hello; a refused name;
// a full server; too many players from the address).
//
// One address (an IPv4 address, or an IPv6 /64) may hold at most
// Config.MaxConnsPerAddr connections and Config.MaxPlayersPerAddr players,
// so that it cannot take the slots of everybody else; a connection beyond
// gets a Reject saying so (beyond twice as many, it is closed at accept).
// Loopback is exempt by default (Config.AddrLimitExempt).
//
// Names (names.go): the PRECIS Nickname profile (RFC 8266) and, word by
// word, the PRECIS IdentifierClass refuse invisible, control and
// unassigned characters, blank-looking symbols and leading combining
// marks; a name confusable with a connected player's (same after case
// folding and the Unicode TR39 skeleton) is refused as "name in use".
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
// itself). Pings have their own bucket (Config.PingRate, burst 8); a ping
// over it disconnects at once, since no honest client comes near it.
//
// A malformed message, an unknown or unexpected type, an oversized or
// malformed frame, or an input claiming another player's id disconnects that
// client at once with a logged reason; nobody else is affected. A
// connection that has not joined is simply aborted. A player is dismissed:
// it leaves the world at once, gets a Reject "kicked: <why>" (so a client
// can show why), and the connection is closed once that is sent, or
// aborted if the client has not closed its side within Config.Linger. Idle
// players are dismissed the same way (reason=timeout).
//
// Slow clients (slowclient.go): every player, bound to UDP or not, whose
// unsent TCP data (the connection's queue in the process plus, on Linux,
// what the kernel holds) stays above Config.SlowClientQueue for
// Config.SlowClientTimeout is aborted with reason=slow (it would not read a
// Reject); meanwhile its TCP snapshots are skipped, since the next tick
// supersedes them. A queue in the process above four times the bound
// aborts at once, and the kernel's send buffer is capped
// (Config.SendBuffer), so a client that never reads costs bounded memory.
// The kernel can also hide such a client from those queues: the client's
// own receive buffer may grow to megabytes, acknowledging everything, while
// it reads nothing. So the server pings every player over TCP once a
// second, and a player that has not answered a Ping sent more than
// Config.SlowClientTimeout + 1 s ago is aborted with reason=slow too.
// Every connection reads at most 64 KiB ahead of the server, so a flood is
// pushed back by TCP rather than buffered.
//
// # Logs
//
// Through log/slog: msg=listening once; msg=join (player, name, addr);
// msg=leave (player, name, addr, reason=quit|timeout|error|slow|shutdown,
// and detail for timeout, error and slow); msg=reject (addr, reason) when a
// connection or a Hello is refused; msg=drop (addr, reason, detail) when a
// connection that never joined is closed. Those lines are caused by remote
// peers, so they share a budget (Config.PeerLogRate): lines over it are
// counted, and a msg=suppressed line (lines, total) reports them at most
// once a second. Every Config.StatsInterval, msg=stats with players, conns,
// tick_p50_ms, tick_p99_ms, in_bps, out_bps (the reactor's byte counters:
// the whole process when the server owns its reactor), udp_clients,
// inputs_dropped, snapshots_skipped, slow_drops and logs_suppressed.
//
// The server logs from the reactor's main thread; give it a Logger whose
// handler never blocks (the command uses core/asynclog), or a slow log
// sink stalls the game.
package gameserver
