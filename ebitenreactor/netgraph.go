package ebitenreactor

import (
	"errors"
	"fmt"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"
)

// NetGraph is an overlay in the spirit of Source's net_graph: a panel with
// a bar per recent tick of the time the reactor's drain took against its
// budget (the budget drawn as a line), the queue depth and items run per
// tick, bytes in and out per second and open connections (from the
// reactor's Stats), and values the game feeds it (SetRTT, SetValue).
//
// The Game it is attached to (WithNetGraph, or the default one) feeds it
// every tick, toggles it with its key and draws it over the game's Draw
// while it is visible. It is cheap enough to leave on: once its font and
// buffers are built, on the first Draw, drawing it allocates nothing.
//
// Concurrency: game goroutine only (Update and Draw, and reactor callbacks,
// which run there too); before ebiten.RunGame, the goroutine that calls
// Wrap.
type NetGraph struct {
	src     *Game
	visible bool
	key     ebiten.Key
	hasKey  bool
	corner  Corner
	bars    int

	rtt    time.Duration
	hasRTT bool
	values [MaxGraphValues]graphValue
	sim    SimStats // SetSim; netgraph_sim.go
	hasSim bool

	draw drawState
}

type graphValue struct {
	label string
	v     float64
	set   bool
}

// MaxGraphValues is how many named values SetValue can show at once.
const MaxGraphValues = 4

// DefaultGraphBars is how many recent ticks the net graph shows by
// default: two seconds at 60 TPS.
const DefaultGraphBars = 120

// Corner is where on the screen the net graph is drawn.
type Corner int

// The corners of the screen.
const (
	BottomRight Corner = iota
	BottomLeft
	TopRight
	TopLeft
)

// A GraphOption configures NewNetGraph.
type GraphOption func(*NetGraph) error

// WithGraphKey sets the key that toggles the net graph (default F3).
func WithGraphKey(k ebiten.Key) GraphOption {
	return func(ng *NetGraph) error {
		if k < 0 || k > ebiten.KeyMax {
			return fmt.Errorf("%w: key %d", ErrInvalidArgument, k)
		}
		ng.key, ng.hasKey = k, true
		return nil
	}
}

// WithoutGraphKey makes the net graph toggled from code only (Toggle,
// SetVisible), for games that use F3 for something else.
func WithoutGraphKey() GraphOption {
	return func(ng *NetGraph) error { ng.hasKey = false; return nil }
}

// WithGraphVisible sets whether the net graph starts visible (default
// false).
func WithGraphVisible(v bool) GraphOption {
	return func(ng *NetGraph) error { ng.visible = v; return nil }
}

// WithGraphCorner sets the corner of the screen the net graph is drawn in
// (default BottomRight).
func WithGraphCorner(c Corner) GraphOption {
	return func(ng *NetGraph) error {
		if c < BottomRight || c > TopLeft {
			return fmt.Errorf("%w: corner %d", ErrInvalidArgument, c)
		}
		ng.corner = c
		return nil
	}
}

// WithGraphBars sets how many recent ticks the graph shows, one bar each,
// in [16, 480] (default DefaultGraphBars). It cannot show more ticks than
// the Game keeps (WithHistory).
func WithGraphBars(n int) GraphOption {
	return func(ng *NetGraph) error {
		if n < 16 || n > 480 {
			return fmt.Errorf("%w: %d graph bars is not in [16, 480]", ErrInvalidArgument, n)
		}
		ng.bars = n
		return nil
	}
}

// NewNetGraph makes a net graph, hidden and toggled with F3 unless options
// say otherwise. Attach it to a Game with WithNetGraph. Any goroutine; the
// graph is then used on the game goroutine (see NetGraph).
func NewNetGraph(opts ...GraphOption) (*NetGraph, error) {
	ng := &NetGraph{key: ebiten.KeyF3, hasKey: true, bars: DefaultGraphBars}
	var errs []error
	for _, o := range opts {
		if o != nil {
			if err := o(ng); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ng, nil
}

// Visible reports whether the graph is shown.
func (ng *NetGraph) Visible() bool { return ng.visible }

// SetVisible shows or hides the graph.
func (ng *NetGraph) SetVisible(v bool) { ng.visible = v }

// Toggle shows the graph if hidden, hides it if shown.
func (ng *NetGraph) Toggle() { ng.visible = !ng.visible }

// SetRTT sets the round-trip time the graph shows (the game measures it;
// the reactor cannot). A negative d hides it.
func (ng *NetGraph) SetRTT(d time.Duration) { ng.rtt, ng.hasRTT = d, d >= 0 }

// SetValue shows value under label, for anything the game wants to watch
// (players, tick lag, packet loss...). Up to MaxGraphValues labels at once;
// setting a known label again updates it, and with a new label beyond that
// it returns an error wrapping ErrInvalidArgument. Keep labels short: the
// row is about 50 characters wide. It allocates nothing.
func (ng *NetGraph) SetValue(label string, v float64) error {
	free := -1
	for i := range ng.values {
		if ng.values[i].set && ng.values[i].label == label {
			ng.values[i].v = v
			return nil
		}
		if !ng.values[i].set && free < 0 {
			free = i
		}
	}
	if free < 0 {
		return fmt.Errorf("%w: net graph already shows %d values", ErrInvalidArgument, MaxGraphValues)
	}
	ng.values[free] = graphValue{label: label, v: v, set: true}
	return nil
}

// ClearValue stops showing the value under label.
func (ng *NetGraph) ClearValue(label string) {
	for i := range ng.values {
		if ng.values[i].set && ng.values[i].label == label {
			ng.values[i] = graphValue{}
		}
	}
}

// handleKey toggles the graph when its key was just pressed. Called by the
// Game's Update.
func (ng *NetGraph) handleKey() {
	if ng.hasKey && inpututil.IsKeyJustPressed(ng.key) {
		ng.Toggle()
	}
}
