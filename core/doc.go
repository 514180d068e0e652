// Package core is a threaded select reactor for Go: Twisted's
// twisted.internet._threadedselect, made to live inside a game engine's
// main loop, with no engine dependency.
//
// # The threading rule
//
// A reactor has one main thread: the goroutine that drives it. Every
// callback — DoRead and DoWrite of descriptors, protocol callbacks of
// transports, timers, thread calls, system event triggers — runs there, so
// program state touched only by callbacks needs no locks. Other goroutines
// talk to the reactor only through CallFromThread and Stop (and the
// read-only Running, Stopping, Done, Err, Stats).
//
// "Main thread" here means that goroutine, whatever OS thread it is on. In
// an Ebiten game it is the game goroutine that calls Update, which is not
// the goroutine that called ebiten.RunGame (Ebiten's own "main thread",
// where it talks to the GPU and the window system); package ebitenreactor
// makes Update's goroutine the reactor's main thread.
//
// Before the reactor starts (Run, Start or Interleave), the goroutine that
// will drive it may already register what the program needs: ListenTCP,
// ListenUDP, ConnectTCP (the attempt begins when the reactor starts),
// AdoptConn, AdoptListener, AddReader/AddWriter, CallLater, CallEvery,
// system event triggers, CallWhenRunning. CallFromThread is safe from any
// goroutine at any time; calls made before the start run once it runs.
//
// Readiness is waited for by a poll thread (one per reactor, a goroutine
// locked to its OS thread, using epoll on Linux, kqueue on macOS and the
// BSDs, or poll(2) anywhere on unix; never select(2), which cannot take
// descriptors at or above 1024). The poll thread runs no user code: it
// hands work to the main thread through a bounded ring on which no producer
// (the poll thread, a goroutine calling CallFromThread, a goroutine-backed
// connection) ever waits for another. The main thread takes items in the
// order they were claimed, so a producer preempted between claiming a cell
// and writing it delays the items after its own — for the main thread only,
// until that goroutine runs again (a few instructions of work are left). When the ring is
// full nothing is dropped: the poll thread stops taking readiness until the
// main thread catches up.
//
// # Three ways to drive it
//
//   - Run: a headless program's main loop. The calling goroutine waits for
//     readiness itself (no hop between threads), sleeps while idle and wakes
//     within microseconds for CallFromThread or Stop; Run returns when the
//     shutdown sequence has finished.
//   - Start, then Drain(budget) every frame: for frame-based engines. Drain
//     runs queued work until the queue is empty or the budget is spent; the
//     rest stays queued, in order, for the next frame. Package ebitenreactor
//     does this inside Ebiten's Update.
//   - Interleave(waker): Twisted's contract for a foreign event loop. The
//     reactor calls waker(f) from a background goroutine and the host runs f
//     on its main thread (a GUI toolkit's CallAfter); one f at a time.
//
// # Twisted's API, in Go
//
//	Twisted                                   this package
//	reactor.run()                             (*Reactor).Run
//	reactor.interleave(waker)                 (*Reactor).Interleave
//	reactor.iterate(0)                        (*Reactor).Drain(0)
//	reactor.stop()                            (*Reactor).Stop
//	reactor.crash()                           (*Reactor).Crash
//	reactor.running                           (*Reactor).Running
//	reactor.callWhenRunning(f)                (*Reactor).CallWhenRunning
//	reactor.addSystemEventTrigger(ph, ev, f)  (*Reactor).AddSystemEventTrigger (a Trigger returns a channel instead of a Deferred)
//	reactor.removeSystemEventTrigger(id)      (*Reactor).RemoveSystemEventTrigger
//	reactor.fireSystemEvent(ev)               (*Reactor).FireSystemEvent
//	reactor.callLater(d, f)                   (*Reactor).CallLater -> *DelayedCall
//	IDelayedCall cancel/reset/delay/active/getTime  DelayedCall.Cancel/Reset/Delay/Active/Time
//	reactor.seconds()                         (*Reactor).Now
//	task.Clock                                FakeClock (WithClock)
//	reactor.callFromThread(f)                 (*Reactor).CallFromThread
//	threadable.isInIOThread()                 (*Reactor).InMainThread
//	reactor.addReader/addWriter               (*Reactor).AddReader/AddWriter
//	reactor.removeReader/removeWriter         (*Reactor).RemoveReader/RemoveWriter
//	reactor.removeAll()                       (*Reactor).RemoveAll
//	reactor.getReaders/getWriters             (*Reactor).Readers/Writers
//	IReadDescriptor/IWriteDescriptor          ReadDescriptor/WriteDescriptor
//	ReactorNotRunning / AlreadyRunning / NotRestartable  ErrNotRunning / ErrAlreadyRunning / ErrNotRestartable
//	AlreadyCalled / AlreadyCancelled          ErrAlreadyCalled / ErrAlreadyCancelled
//	task.LoopingCall(f).start(i, now=False)   (*Reactor).CallEvery -> *DelayedCall
//
// The calls a program makes for their effect return only their handle, so
// the common call needs no error check: CallWhenRunning, CallEvery and
// OnShutdown (AddSystemEventTrigger's common case). A misuse of one of them
// (a nil function, an interval that is not positive, a call once it could
// never run) does nothing and is logged at Error level through the
// reactor's logger, with an error matching ErrInvalidArgument or
// ErrPhaseOver. The general calls, AddSystemEventTrigger among them,
// return their errors.
//
// # Transports: two implementations, chosen per connection
//
// A stream connection, a listening port and a UDP port are each
// descriptor-backed or goroutine-backed, chosen where they are made. On a
// backend with a poller (unix), the reactor's own sockets and adopted
// sockets of package net (*net.TCPConn, *net.TCPListener, ...) are
// descriptor-backed: the poll thread moves their bytes. Anything else — a
// *tls.Conn, a net.Pipe end, a WebSocket's net.Conn, a listener that hands
// those out — is goroutine-backed, on every backend: a reader and a writer
// goroutine on the Go runtime's poller queue the same ring entries. On the
// portable backend (and so on Windows) everything is goroutine-backed. The
// main thread cannot tell them apart: the same callbacks, ordering and
// budget, ConnectionLost exactly once, the same shutdown.
//
// # Where things are
//
//	drive.go, drive_run.go, drive_threaded.go, drive_interleave.go
//	                 the three drivers and their common startup
//	round.go         one round of the main thread's work, and the budget
//	timers.go, clock.go    CallLater, CallEvery, DelayedCall; FakeClock
//	events.go, shutdown.go system events, Stop and the shutdown sequence
//	handle.go        registrations: the slot table, ConnIDs
//	descriptors.go   raw descriptors (AddReader, AddWriter)
//	transport.go, tcp.go   the public stream API; TCP ports and connectors
//	stream.go        the logic a stream connection's two implementations share
//	stream_fd_unix.go, stream_go.go, listen_*.go, dial_*.go
//	                 descriptor-backed (_fd_unix) and goroutine-backed (_go)
//	udp.go, udp_fd_unix.go, udp_go.go      datagram transports, likewise
//	buffers.go       read chunks, write queues, their pools
//	internal/poller  epoll, kqueue, poll(2), portable; the wake-ups
//	internal/queue   the ring to the main thread, and each connection's reads
//
// # Where it differs from Twisted, on purpose
//
//   - The queue between threads is bounded and never loses work (Twisted
//     made it unbounded to fix a deadlock, #10941).
//   - The poll thread does not wait for the main thread between polls, so
//     throughput is not capped at one round per host iteration (#4932).
//   - A descriptor closed behind the reactor's back, replaced with dup2, or
//     numbered above 1023 gets ConnectionLost exactly once, even if it was
//     both reader and writer, and the loop keeps running (Twisted's preen
//     stops its interleave loop and calls connectionLost twice).
//   - A poller error shuts the reactor down and is returned by Run and Err,
//     logged through log/slog; the poll thread never dies silently.
//   - A panic in a callback is recovered, logged with its stack, and
//     disconnects only the descriptor it came from.
//   - A program whose host loop ends without Stop is not held open: the
//     reactor's goroutines do not keep a Go program alive (#10951).
package core
