// Package game is the shared netcode of a small real-time multiplayer arena
// game in which players walk around a 2-D arena. The same code runs in the
// headless authoritative server, in the Ebiten client and in headless bots, so
// it is pure Go: no network, no graphics, no clock. Every function that needs
// the time takes it as an argument, which keeps it deterministic and testable.
//
// The package has one concern per file:
//
//   - protocol.go: the message payloads and their binary encoding. Framing (the
//     uvarint length prefix in front of every payload) belongs to the transport
//     package; a payload starts with its MsgType byte.
//   - sim.go: the deterministic movement simulation (Step) and the server's
//     World.
//   - predict.go: client-side prediction with server reconciliation
//     (Predictor).
//   - interp.go: interpolation of remote players in the recent past
//     (Interpolator).
//   - ratelimit.go: a token bucket for the server's per-client input limit.
//
// # Simulation model
//
// The server runs World.Tick at a fixed rate (Welcome.TickRate, by default
// DefaultTickRate per second). A client samples its buttons once per tick of
// its own and sends them as an Input with a new, increasing Seq. One Input is
// exactly one tick of movement: Step(p, buttons, TickDT(tickRate)). The server
// queues inputs as they arrive (World.Apply) and applies every queued input in
// the next World.Tick, in Seq order, so positions only change at tick
// boundaries. Because a tick with no buttons held moves nothing, a client may
// skip sending idle inputs.
//
// Every position the simulation produces lies on the 1/16 px grid that the wire
// format carries, so a client that resets to a snapshot's position and
// replays its unacknowledged inputs computes bit-for-bit what the server will
// compute (see Predictor). Remote players are drawn about 100 ms in the past,
// interpolated between the two snapshots around that moment (see
// Interpolator).
//
// The server protects itself with a TokenBucket per client (slightly above the
// tick rate, with a small burst) and the bounded input queue of World.Apply, so
// a client cannot move faster than the tick rate allows by sending more inputs.
package game
