//go:build race

package gameserver

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = true
