// Package ebitenreactor runs a core.Reactor inside an Ebitengine game: the
// main-loop plugin that makes Twisted's threaded select reactor drive a
// game's networking from its Update.
//
// # Quick start
//
//	r, err := core.New()
//	if err != nil { ... }
//	// Register connections, timers and shutdown triggers on r here.
//	if err := ebitenreactor.RunGame(game, r); err != nil { ... }
//
// RunGame replaces ebiten.RunGame. A program that calls ebiten.RunGame
// itself uses Wrap and Finish instead:
//
//	g, err := ebitenreactor.Wrap(game, r)
//	if err != nil { ... }
//	err = g.Finish(ebiten.RunGame(g.EbitenGame()))
//
// # Every tick
//
// At the start of every Update, before the game's own Update, the plugin
// drains the reactor's queued work (descriptor and connection events,
// thread calls, due timers) on the game goroutine, so the game sees the
// newest network state each tick. The drain is bounded by a budget, by
// default a quarter of a tick at the current TPS (re-read every tick; see
// WithBudget, WithBudgetFraction); what does not fit stays queued, in
// order, for the next tick. Each tick's drain is recorded as a Frame (time
// against budget, CPU time, items run and left, queue depth, the reactor's
// counters) in a ring the game can read (Frames, LastFrame) without
// allocating.
//
// # Threading
//
// Every reactor callback runs on Ebitengine's game goroutine, the one that
// calls Update and Draw, so game state touched by callbacks and by the
// game needs no locks, and the plugin takes none. That goroutine is what
// package core calls the reactor's "main thread"; it is not Ebitengine's
// main thread (the goroutine that called RunGame, which talks to the GPU
// and the window system and never runs reactor callbacks). The reactor is started
// (r.Start) by Wrap on the goroutine that calls it, before the window
// opens; startup triggers run there.
//
// # Shutdown
//
// All of these lead to the same orderly shutdown: closing the window (the
// plugin calls ebiten.SetWindowClosingHandled(true); see
// WithCloseHandling), SIGINT or SIGTERM (WithSignals), the game's Update
// returning an error or ebiten.Termination, and r.Stop called from
// anywhere. The plugin stops the reactor and keeps ticking: it drains, and
// calls the game's Update (unless that returned an error) and Draw, so the
// game can show "disconnecting…" (ShuttingDown, Cause, ShutdownObserver),
// while before-shutdown triggers say goodbye to peers and connections
// flush. Once the reactor's shutdown sequence has finished, after-shutdown
// triggers included, Update returns and the window closes. RunGame returns
// the game's own error unchanged (nil for ebiten.Termination).
//
// Connections flush by default: once the game's own before-shutdown
// triggers have run, the plugin calls LoseConnection on every open
// connection and the shutdown waits until each has sent everything queued
// and closed, so peers receive every byte written before the shutdown,
// then end of stream. A game that wants its own goodbye order turns this
// off with WithFlushOnShutdown(false).
//
// A shutdown that cannot finish is bounded twice: the reactor cuts off
// before-shutdown triggers after the shutdown timeout (default 2 s,
// WithShutdownTimeout) and logs each, and the plugin closes the window
// anyway after a further grace period (WithShutdownGrace), reporting
// ErrShutdownIncomplete. If ebiten.RunGame returns with the reactor still
// running (a platform that closes the window itself), Finish stops the
// reactor and drains it to the end on its goroutine, so after-shutdown
// triggers still run exactly once.
//
// # Net graph
//
// NetGraph is an overlay in the spirit of Source's net_graph, toggled with
// F3 (WithGraphKey) or from code: per-tick drain time against the budget,
// queue depth and items run, bytes in and out per second and connections,
// and values the game feeds it (SetRTT, SetValue). It is drawn in one
// draw call and allocates nothing per frame.
package ebitenreactor
