package ebitenreactor

import (
	"math"
	"strconv"
	"time"
)

// Number formatting for the net graph into a reused byte buffer: fmt
// would allocate every frame.

// appendMillis appends d in milliseconds with two decimals ("4.17").
func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

// appendBytes appends a byte count with a decimal unit ("1.2 MB").
func appendBytes(b []byte, n float64) []byte {
	switch {
	case n < 1e3:
		b = strconv.AppendInt(b, int64(math.Round(n)), 10)
		return append(b, " B"...)
	case n < 1e6:
		b = strconv.AppendFloat(b, n/1e3, 'f', 1, 64)
		return append(b, " kB"...)
	case n < 1e9:
		b = strconv.AppendFloat(b, n/1e6, 'f', 1, 64)
		return append(b, " MB"...)
	default:
		b = strconv.AppendFloat(b, n/1e9, 'f', 2, 64)
		return append(b, " GB"...)
	}
}

// appendValue appends a game-fed value with about three significant
// digits, without exponents for the usual range.
func appendValue(b []byte, v float64) []byte {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case a == math.Trunc(a) && a < 1e9:
		return strconv.AppendInt(b, int64(v), 10)
	case a >= 100 && a < 1e9:
		return strconv.AppendFloat(b, v, 'f', 0, 64)
	case a >= 10:
		return strconv.AppendFloat(b, v, 'f', 1, 64)
	case a >= 0.01:
		return strconv.AppendFloat(b, v, 'f', 2, 64)
	default:
		return strconv.AppendFloat(b, v, 'g', 3, 64)
	}
}
