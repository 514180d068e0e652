//go:build race

package session

// raceEnabled: allocation counts mean nothing under the race detector.
const raceEnabled = true
