// Package netsim is a network conditions simulator for games on the
// reactor: latency, jitter, loss, duplication and reordering of datagrams,
// and latency, jitter and a bandwidth cap on streams (which keep TCP's
// contract: in order, nothing lost), on what a program receives and on
// what it sends, per reactor with a per-connection override. LiteNetLib,
// GameNetworkingSockets, Mirror and Unity Transport ship one; this is the
// reactor's.
//
// A Conditions is a netio.Net: a game that opens its connections through
// a netio.Net (see package netio) runs on a simulated network by being
// given one, with no other change:
//
//	sim := netsim.New(netio.Reactor(r), netsim.Presets()[4], seed) // bad Wi-Fi
//	sess, err := netclient.Dial(r, netclient.Config{Net: sim, ...})
//	...
//	sim.Set(netsim.Next(sim.Settings().Name)) // cycle the presets on a key
//	st := sim.Stats()                         // what it dropped and delayed
//
// A program that calls the reactor itself wraps what it hands the reactor
// instead: WrapFactory, WrapClientFactory and WrapProtocol for streams,
// WrapDatagramProtocol (then Port.Attach) for UDP.
//
// The simulation is applied on the main thread, where work leaves the
// reactor for the program, and delays with the wrapped Net's timers
// (CallLater): the poll thread stays as simple as it was, and every
// delayed delivery is one timer callback, so the frame budget holds. It is
// deterministic under a seed (math/rand/v2's PCG, one generator per
// connection and direction): the same seed and the same traffic give the
// same drops and delays. Run it with a core.FakeClock and every delay is
// exact and reproducible in a test without sleeping.
//
// Presets: off, lan, wifi (good Wi-Fi), 4g and badwifi (150 ms ± 30 ms
// round trip, 5% loss, 1% duplicates, 2% reordered); see Presets. Parse
// reads a preset name or explicit values from a flag.
//
// The simulator sits at one end of the connection, so what it holds on
// the way out is not yet in the real connection: if something other than
// the program closes that (the Ebiten plugin's flush at shutdown, core's
// LoseAllConnections, the peer resetting it), what is held is dropped and
// counted (DirStats.Discarded). Call FlushNow from a before-shutdown
// trigger, after the goodbyes are written, to send it at once.
package netsim
