//go:build race

package ebitenreactor_test

const raceEnabled = true
