//go:build !race

package gameserver

const raceEnabled = false
