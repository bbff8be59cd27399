//go:build !linux

package neo4jserver

import (
	"errors"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// Only linux has Pdeathsig, which keeps a killed test binary from leaving
// a JVM behind; elsewhere use an external server (NEO4J_TEST_URI).
func lockFile(string) (func(), error) {
	return nil, errors.New("neo4jserver: starting a local Neo4j needs linux; set NEO4J_TEST_URI instead")
}
