//go:build unix

package ebitenreactor_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(scenarioEnv); name != "" {
		os.Exit(runChildScenario(name))
	}
	os.Exit(m.Run())
}
