package core

import (
	"fmt"
	"reflect"
	"runtime"
)

// Phase is one of the three phases of a system event.
type Phase int

// The phases of a system event, in the order they run.
const (
	Before Phase = iota // may delay the event: During waits for the channels Before triggers return
	During              // the event itself
	After               // clean-up after the event
)

func (p Phase) String() string {
	switch p {
	case Before:
		return "before"
	case During:
		return "during"
	case After:
		return "after"
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Names of the system events the reactor fires itself. Programs may fire
// events of their own with FireSystemEvent.
const (
	Startup  = "startup"
	Shutdown = "shutdown"
)

// A Trigger is a function run at a phase of a system event, on the main
// thread. In the Before phase it may return a channel: the event does not go
// on to its During phase until every channel returned by its Before triggers
// is closed, and the reactor keeps running I/O and timers meanwhile (this is
// where a game says goodbye to its peers). Return nil to not wait. The value
// returned in the During and After phases is ignored.
type Trigger func() <-chan struct{}

// TriggerID names a registered trigger, for RemoveSystemEventTrigger.
type TriggerID struct {
	event string
	phase Phase
	n     uint64
}

type trigger struct {
	n  uint64
	fn Trigger
}

// sysEvent is one named event and its three lists of triggers. Triggers are
// consumed as they run: each runs at most once, and a trigger added while
// its phase is running runs in that firing.
type sysEvent struct {
	name    string
	lists   [3][]trigger
	ran     [3]bool // the phase has run in the last firing
	firing  bool
	waiting int    // Before-phase channels not yet closed
	epoch   uint64 // bumped when a firing ends or is cut off, so late waits are ignored
	waits   []pendingWait
	then    func()
}

type pendingWait struct {
	t  trigger
	ch <-chan struct{}
}

func (r *Reactor) event(name string) *sysEvent {
	ev := r.events[name]
	if ev == nil {
		ev = &sysEvent{name: name}
		r.events[name] = ev
	}
	return ev
}

// AddSystemEventTrigger registers f to run at the given phase of the named
// event (Startup, Shutdown, or one of the program's own). Main thread only.
func (r *Reactor) AddSystemEventTrigger(phase Phase, event string, f Trigger) (TriggerID, error) {
	if phase < Before || phase > After {
		return TriggerID{}, fmt.Errorf("%w: phase %v", ErrInvalidArgument, phase)
	}
	if f == nil {
		return TriggerID{}, fmt.Errorf("%w: nil trigger for %v %s", ErrInvalidArgument, phase, event)
	}
	ev := r.event(event)
	if err := r.phaseOver(ev, phase); err != nil {
		return TriggerID{}, err
	}
	r.triggerSeq++
	t := trigger{n: r.triggerSeq, fn: f}
	ev.lists[phase] = append(ev.lists[phase], t)
	return TriggerID{event: event, phase: phase, n: t.n}, nil
}

// phaseOver refuses a trigger that could never run: one for a phase of
// the shutdown that has already run (the reactor cannot be restarted), or
// of the startup once the reactor is running (it starts again only after a
// Crash, which clears this).
func (r *Reactor) phaseOver(ev *sysEvent, phase Phase) error {
	switch ev.name {
	case Shutdown:
		if ev.ran[phase] || r.finished {
			return fmt.Errorf("%w: %v %s has already run and the reactor cannot be restarted", ErrPhaseOver, phase, ev.name)
		}
	case Startup:
		if ev.ran[phase] {
			return fmt.Errorf("%w: %v %s has already run; use CallWhenRunning", ErrPhaseOver, phase, ev.name)
		}
	}
	return nil
}

// RemoveSystemEventTrigger unregisters a trigger that has not run yet. A
// Before trigger may remove a During trigger of the same event to prevent
// it. Removing a trigger that already ran, or an unknown one, returns
// ErrUnknownTrigger. Main thread only.
func (r *Reactor) RemoveSystemEventTrigger(id TriggerID) error {
	ev := r.events[id.event]
	if ev != nil && id.phase >= Before && id.phase <= After {
		l := ev.lists[id.phase]
		for i, t := range l {
			if t.n == id.n {
				ev.lists[id.phase] = append(l[:i:i], l[i+1:]...)
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %v %s #%d", ErrUnknownTrigger, id.phase, id.event, id.n)
}

// FireSystemEvent fires the named event: its Before triggers, then (once
// the channels they returned are closed) its During and After triggers.
// Firing an event that is already firing does nothing. Main thread only.
func (r *Reactor) FireSystemEvent(event string) {
	r.fireEvent(event, nil)
}

// CallWhenRunning runs f once the reactor is running (Twisted's
// callWhenRunning): at once if it is, else as an After-startup trigger, in
// the order registered. It returns the trigger's id, for
// RemoveSystemEventTrigger, when f was deferred; the zero TriggerID when f
// ran at once or was refused.
//
// It has no error to check. A nil f (ErrInvalidArgument), or a call once
// the reactor has stopped, when f could never run (ErrPhaseOver; after a
// Crash, f waits for the next start), registers nothing and is logged at
// Error level through the reactor's logger. Main thread, or before the
// reactor starts.
func (r *Reactor) CallWhenRunning(f func()) TriggerID {
	id, err := r.callWhenRunning(f)
	if err != nil {
		r.log.Error("reactor: CallWhenRunning refused", "err", err)
	}
	return id
}

// callWhenRunning is CallWhenRunning with its error, for the reactor's
// own callers that return it.
func (r *Reactor) callWhenRunning(f func()) (TriggerID, error) {
	if f == nil {
		return TriggerID{}, fmt.Errorf("%w: nil function for CallWhenRunning", ErrInvalidArgument)
	}
	if r.running.Load() {
		r.safeCall("CallWhenRunning", f)
		return TriggerID{}, nil
	}
	if r.event(Startup).ran[After] {
		return TriggerID{}, fmt.Errorf("%w: CallWhenRunning after the reactor stopped: the function would never run", ErrPhaseOver)
	}
	return r.AddSystemEventTrigger(After, Startup, func() <-chan struct{} { f(); return nil })
}

func (r *Reactor) fireEvent(name string, then func()) {
	ev := r.event(name)
	if ev.firing {
		return
	}
	ev.firing = true
	ev.ran = [3]bool{}
	ev.then = then
	ev.waits = ev.waits[:0]
	for len(ev.lists[Before]) > 0 {
		t := ev.lists[Before][0]
		ev.lists[Before] = ev.lists[Before][1:]
		if ch := r.runTrigger(ev, Before, t); ch != nil {
			ev.waits = append(ev.waits, pendingWait{t, ch})
		}
	}
	ev.ran[Before] = true
	// Check the channels only now: a later Before trigger may have closed
	// an earlier one's.
	open := ev.waits[:0]
	for _, w := range ev.waits {
		select {
		case <-w.ch:
		default:
			open = append(open, w)
		}
	}
	ev.waits = open
	ev.waiting = len(open)
	if ev.waiting == 0 {
		r.continueEvent(ev)
		return
	}
	epoch := ev.epoch
	for _, w := range open {
		r.watch(ev, epoch, w.ch)
	}
	if name == Shutdown {
		r.startShutdownTimer()
	}
}

// watch waits for ch off the main thread and continues the event on the
// main thread once every wait has ended. The goroutine ends when ch closes
// or the reactor abandons its waits.
func (r *Reactor) watch(ev *sysEvent, epoch uint64, ch <-chan struct{}) {
	abandon := r.abandon
	r.watchers.Add(1)
	r.watcherN.Add(1)
	go func() {
		defer r.watchers.Done()
		defer r.watcherN.Add(-1)
		select {
		case <-ch:
		case <-abandon:
			return
		}
		r.CallFromThread(func() {
			if ev.epoch != epoch || !ev.firing {
				return
			}
			ev.waiting--
			if ev.waiting == 0 {
				r.continueEvent(ev)
			}
		})
	}()
}

// cutEvent stops waiting for the Before triggers of a firing event and
// goes on with it, logging the triggers it gave up on.
func (r *Reactor) cutEvent(ev *sysEvent, why string) {
	if !ev.firing || ev.waiting == 0 {
		return
	}
	for _, w := range ev.waits {
		select {
		case <-w.ch:
		default:
			r.log.Warn("reactor: gave up waiting for a before trigger",
				"event", ev.name, "trigger", funcName(w.t.fn), "why", why)
			r.stats.cutOff.Add(1)
		}
	}
	ev.waiting = 0
	r.continueEvent(ev)
}

func (r *Reactor) continueEvent(ev *sysEvent) {
	ev.epoch++
	ev.waits = ev.waits[:0]
	switch ev.name {
	case Startup:
		r.startupDuring()
	case Shutdown:
		r.shutdownDuring()
	}
	for _, ph := range [...]Phase{During, After} {
		for len(ev.lists[ph]) > 0 {
			t := ev.lists[ph][0]
			ev.lists[ph] = ev.lists[ph][1:]
			r.runTrigger(ev, ph, t)
		}
		ev.ran[ph] = true
	}
	ev.firing = false
	if then := ev.then; then != nil {
		ev.then = nil
		then()
	}
}

func (r *Reactor) runTrigger(ev *sysEvent, ph Phase, t trigger) (ch <-chan struct{}) {
	defer func() {
		if v := recover(); v != nil {
			r.logPanic("system event trigger", v, "event", ev.name, "phase", ph.String(), "trigger", funcName(t.fn))
			ch = nil
		}
	}()
	return t.fn()
}

func funcName(f any) string {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Func {
		return "?"
	}
	if v.IsNil() {
		return "nil"
	}
	if fn := runtime.FuncForPC(v.Pointer()); fn != nil {
		return fn.Name()
	}
	return "?"
}

// OnShutdown registers f as a Before-shutdown trigger, the common case of
// AddSystemEventTrigger: the place where a game says goodbye to its peers
// (return a channel to keep the reactor running until it is closed). It
// returns the trigger's id for RemoveSystemEventTrigger. A nil f, or a
// shutdown already past its Before phase, registers nothing: the error is
// logged and the zero TriggerID returned, so the common call needs no
// error check. Main thread.
func (r *Reactor) OnShutdown(f Trigger) TriggerID {
	id, err := r.AddSystemEventTrigger(Before, Shutdown, f)
	if err != nil {
		r.log.Error("reactor: OnShutdown", "err", err)
	}
	return id
}
