//go:build !race && unix

package ebitenreactor_test

const raceEnabled = false
