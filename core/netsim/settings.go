package netsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/threadedselect/reactor/core"
)

// Link is what the simulated network does to what travels one way.
//
// Every datagram and every stream chunk is held back Latency plus a jitter
// drawn uniformly from [-Jitter, +Jitter] (never less than zero). Streams
// keep TCP's contract: nothing is lost, duplicated or reordered, so a chunk
// is never delivered before the one sent ahead of it (a late chunk holds up
// those behind it, as on a real connection), and with a Bandwidth each
// chunk also waits for the ones ahead of it to have gone through the link
// at that rate. Datagrams are independent: each one is lost with
// probability Loss, else delivered twice with probability Duplicate, and
// held back ReorderDelay more with probability Reorder, so that later ones
// overtake it (jitter alone reorders datagrams too).
type Link struct {
	Latency      time.Duration // one-way delay
	Jitter       time.Duration // the delay varies uniformly by up to this much either way
	Loss         float64       // datagrams: probability of being dropped, in [0, 1]
	Duplicate    float64       // datagrams: probability of being delivered twice, in [0, 1]
	Reorder      float64       // datagrams: probability of being held back ReorderDelay more, in [0, 1]
	ReorderDelay time.Duration // datagrams: the extra hold of a reordered one; 0 means 2×Jitter + 10ms
	Bandwidth    int           // streams: bytes per second through the link; 0 means unlimited
}

// streamIdle reports whether the link leaves streams alone.
func (l *Link) streamIdle() bool { return l.Latency == 0 && l.Jitter == 0 && l.Bandwidth == 0 }

// datagramIdle reports whether the link leaves datagrams alone.
func (l *Link) datagramIdle() bool {
	return l.Latency == 0 && l.Jitter == 0 && l.Loss == 0 && l.Duplicate == 0 && l.Reorder == 0
}

func (l *Link) reorderDelay() time.Duration {
	if l.ReorderDelay > 0 {
		return l.ReorderDelay
	}
	return 2*l.Jitter + 10*time.Millisecond
}

func (l *Link) validate(dir string) error {
	var errs []error
	prob := func(name string, p float64) {
		if !(p >= 0 && p <= 1) { // also catches NaN
			errs = append(errs, fmt.Errorf("%s %s %v is not in [0, 1]", dir, name, p))
		}
	}
	prob("loss", l.Loss)
	prob("duplicate", l.Duplicate)
	prob("reorder", l.Reorder)
	if l.Latency < 0 || l.Jitter < 0 || l.ReorderDelay < 0 {
		errs = append(errs, fmt.Errorf("%s latency %v, jitter %v and reorder delay %v must not be negative", dir, l.Latency, l.Jitter, l.ReorderDelay))
	}
	if l.Bandwidth < 0 {
		errs = append(errs, fmt.Errorf("%s bandwidth %d must not be negative", dir, l.Bandwidth))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", core.ErrInvalidArgument, errors.Join(errs...))
	}
	return nil
}

// Settings are the network conditions of both directions: Recv applies to
// what reaches the program (DataReceived, DatagramReceived), Send to what
// it sends (Write, WriteTo). The zero Settings simulate nothing: every call
// goes straight through, at no cost.
type Settings struct {
	Name       string // a preset's name, or "custom"; shown in the net graph
	Recv, Send Link
}

// Validate reports settings that cannot be simulated (a probability
// outside [0, 1], a negative duration), with an error wrapping
// core.ErrInvalidArgument.
func (s Settings) Validate() error {
	return errors.Join(s.Recv.validate("recv"), s.Send.validate("send"))
}

// Idle reports whether s simulates nothing.
func (s Settings) Idle() bool {
	return s.Recv.streamIdle() && s.Recv.datagramIdle() && s.Send.streamIdle() && s.Send.datagramIdle()
}

// RTT is the round trip the settings add on average: the latency of both
// directions.
func (s Settings) RTT() time.Duration { return s.Recv.Latency + s.Send.Latency }

// String describes s in the syntax Parse reads.
func (s Settings) String() string {
	var b strings.Builder
	name := s.Name
	if name == "" {
		name = "custom"
	}
	b.WriteString(name)
	if s.Recv == s.Send {
		appendLink(&b, "", s.Recv)
	} else {
		appendLink(&b, "recv.", s.Recv)
		appendLink(&b, "send.", s.Send)
	}
	return b.String()
}

func appendLink(b *strings.Builder, prefix string, l Link) {
	kv := func(k, v string) { fmt.Fprintf(b, ",%s%s=%s", prefix, k, v) }
	pct := func(p float64) string { return strconv.FormatFloat(p*100, 'g', -1, 64) + "%" }
	if l.Latency != 0 {
		kv("delay", l.Latency.String())
	}
	if l.Jitter != 0 {
		kv("jitter", l.Jitter.String())
	}
	if l.Loss != 0 {
		kv("loss", pct(l.Loss))
	}
	if l.Duplicate != 0 {
		kv("dup", pct(l.Duplicate))
	}
	if l.Reorder != 0 {
		kv("reorder", pct(l.Reorder))
	}
	if l.ReorderDelay != 0 {
		kv("reorder-delay", l.ReorderDelay.String())
	}
	if l.Bandwidth != 0 {
		kv("bw", strconv.Itoa(l.Bandwidth))
	}
}

// The presets, in the order Next cycles through them. Latencies are one
// way: a preset adds twice its Latency to the round trip (bad Wi-Fi: 150 ms
// ± 30 ms). Loss, duplication and reordering apply to datagrams, each way.
func presetList() []Settings {
	both := func(name string, l Link) Settings { return Settings{Name: name, Recv: l, Send: l} }
	const kb = 1000
	lan := both("lan", Link{Latency: 1 * time.Millisecond, Jitter: 250 * time.Microsecond})
	wifi := both("wifi", Link{Latency: 10 * time.Millisecond, Jitter: 3 * time.Millisecond,
		Loss: 0.005, Reorder: 0.002, Bandwidth: 5000 * kb})
	lte := both("4g", Link{Latency: 30 * time.Millisecond, Jitter: 8 * time.Millisecond,
		Loss: 0.01, Reorder: 0.005, Bandwidth: 1500 * kb})
	lte.Send.Bandwidth = 500 * kb // the uplink is the narrow one
	bad := both("badwifi", Link{Latency: 75 * time.Millisecond, Jitter: 15 * time.Millisecond,
		Loss: 0.05, Duplicate: 0.01, Reorder: 0.02, ReorderDelay: 40 * time.Millisecond, Bandwidth: 250 * kb})
	return []Settings{{Name: "off"}, lan, wifi, lte, bad}
}

// Presets returns the presets, in the order Next cycles through them:
//
//	off      nothing simulated
//	lan      RTT 2 ms ± 0.5 ms
//	wifi     good Wi-Fi: RTT 20 ms ± 6 ms, 0.5% loss, 0.2% reordered, 5 MB/s
//	4g       RTT 60 ms ± 16 ms, 1% loss, 0.5% reordered, 1.5 MB/s down, 0.5 MB/s up
//	badwifi  bad Wi-Fi: RTT 150 ms ± 30 ms, 5% loss, 1% duplicated, 2% reordered (40 ms), 250 kB/s
//
// (RTT figures are the sum of both directions' Latency and Jitter; loss,
// duplication and reordering are per datagram, each way.)
func Presets() []Settings { return presetList() }

// Preset returns the preset called name (case-insensitive; "good-wifi",
// "bad-wifi", "lte" and "none" are accepted too).
func Preset(name string) (Settings, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "good-wifi", "goodwifi", "good_wifi":
		n = "wifi"
	case "bad-wifi", "bad_wifi":
		n = "badwifi"
	case "lte":
		n = "4g"
	case "none", "":
		n = "off"
	}
	for _, p := range presetList() {
		if p.Name == n {
			return p, true
		}
	}
	return Settings{}, false
}

// Next returns the preset after the one called name, wrapping around; a
// name that is not a preset's gives the first preset after "off".
func Next(name string) Settings {
	ps := presetList()
	for i, p := range ps {
		if p.Name == name {
			return ps[(i+1)%len(ps)]
		}
	}
	return ps[1]
}

// Parse reads settings from a flag value: a preset's name ("4g"), or
// comma-separated key=value pairs applied to both directions, optionally
// after a preset to start from:
//
//	badwifi
//	delay=40ms,jitter=10ms,loss=2%,dup=0.5%,reorder=1%,reorder-delay=30ms,bw=500000
//	4g,loss=10%
//	delay=20ms,recv.loss=5%,send.loss=0
//
// Keys: delay (or latency), jitter, loss, dup, reorder, reorder-delay, bw
// (bytes per second; a k, M or G suffix multiplies by 1000s). A recv. or
// send. prefix limits a key to one direction. Probabilities are fractions
// (0.05) or percentages (5%). Errors wrap core.ErrInvalidArgument.
func Parse(spec string) (Settings, error) {
	spec = strings.TrimSpace(spec)
	if p, ok := Preset(spec); ok {
		return p, nil
	}
	var s Settings
	parts := strings.Split(spec, ",")
	if p, ok := Preset(parts[0]); ok && !strings.Contains(parts[0], "=") {
		s = p
		parts = parts[1:]
	} else if strings.EqualFold(strings.TrimSpace(parts[0]), "custom") {
		parts = parts[1:] // what String writes for settings of no preset
	} else if !strings.Contains(parts[0], "=") {
		return Settings{}, fmt.Errorf("%w: netsim: %q is neither a preset (off, lan, wifi, 4g, badwifi) nor key=value", core.ErrInvalidArgument, parts[0])
	}
	s.Name = "custom"
	for _, kv := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return Settings{}, fmt.Errorf("%w: netsim: %q is not key=value", core.ErrInvalidArgument, kv)
		}
		links := []*Link{&s.Recv, &s.Send}
		if rest, ok := strings.CutPrefix(k, "recv."); ok {
			k, links = rest, []*Link{&s.Recv}
		} else if rest, ok := strings.CutPrefix(k, "send."); ok {
			k, links = rest, []*Link{&s.Send}
		}
		if err := setKey(links, strings.ToLower(k), strings.TrimSpace(v)); err != nil {
			return Settings{}, fmt.Errorf("%w: netsim: %s: %v", core.ErrInvalidArgument, kv, err)
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func setKey(links []*Link, k, v string) error {
	dur := func(f func(*Link, time.Duration)) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		for _, l := range links {
			f(l, d)
		}
		return nil
	}
	prob := func(f func(*Link, float64)) error {
		p, err := parseProb(v)
		if err != nil {
			return err
		}
		for _, l := range links {
			f(l, p)
		}
		return nil
	}
	switch k {
	case "delay", "latency":
		return dur(func(l *Link, d time.Duration) { l.Latency = d })
	case "jitter":
		return dur(func(l *Link, d time.Duration) { l.Jitter = d })
	case "reorder-delay":
		return dur(func(l *Link, d time.Duration) { l.ReorderDelay = d })
	case "loss":
		return prob(func(l *Link, p float64) { l.Loss = p })
	case "dup", "duplicate":
		return prob(func(l *Link, p float64) { l.Duplicate = p })
	case "reorder":
		return prob(func(l *Link, p float64) { l.Reorder = p })
	case "bw", "bandwidth":
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		for _, l := range links {
			l.Bandwidth = n
		}
		return nil
	}
	return fmt.Errorf("unknown key %q", k)
}

func parseProb(v string) (float64, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(pct, 64)
		return p / 100, err
	}
	return strconv.ParseFloat(v, 64)
}

func parseBytes(v string) (int, error) {
	mult := 1
	v = strings.TrimSuffix(strings.TrimSuffix(v, "/s"), "B")
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		mult, v = 1000, v[:len(v)-1]
	case strings.HasSuffix(v, "M"):
		mult, v = 1000_000, v[:len(v)-1]
	case strings.HasSuffix(v, "G"):
		mult, v = 1000_000_000, v[:len(v)-1]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if f < 0 || f*float64(mult) > 1<<50 {
		return 0, fmt.Errorf("bandwidth %s out of range", v)
	}
	return int(f * float64(mult)), nil
}
