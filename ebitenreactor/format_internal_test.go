package ebitenreactor

import (
	"math"
	"testing"
	"time"
)

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{string(appendMillis(nil, 4166666*time.Nanosecond)), "4.17"},
		{string(appendBytes(nil, 999)), "999 B"},
		{string(appendBytes(nil, 1500)), "1.5 kB"},
		{string(appendBytes(nil, 165.8e6)), "165.8 MB"},
		{string(appendBytes(nil, 2.5e9)), "2.50 GB"},
		{string(appendValue(nil, 12)), "12"},
		{string(appendValue(nil, 0.4)), "0.40"},
		{string(appendValue(nil, 12.34)), "12.3"},
		{string(appendValue(nil, 123.4)), "123"},
		{string(appendValue(nil, 0.001234)), "0.00123"},
		{string(appendValue(nil, math.Inf(1))), "+Inf"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() {
		b := appendMillis(buf[:0], time.Millisecond)
		b = appendBytes(b, 1e6)
		_ = appendValue(b, 3.14)
	}); n != 0 {
		t.Errorf("formatting allocates %v times", n)
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(4)
	if h.last() != nil {
		t.Fatal("empty history has a last record")
	}
	for i := 0; i < 10; i++ {
		f := h.push()
		f.Ran = i
	}
	if h.len() != 4 || h.at(0).Ran != 6 || h.last().Ran != 9 || h.last().Seq != 10 {
		t.Errorf("len %d, oldest %d, newest %d seq %d", h.len(), h.at(0).Ran, h.last().Ran, h.last().Seq)
	}
}

func TestBudgetFor(t *testing.T) {
	if got := budgetFor(60, 0.25); got != time.Second/240 {
		t.Errorf("%v", got)
	}
	if got := budgetFor(1e12, 0.25); got != time.Microsecond {
		t.Errorf("floor: %v", got)
	}
}
