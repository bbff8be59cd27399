//go:build !linux

package slapd

import "syscall"

// Only linux has Pdeathsig; elsewhere a killed test binary can leave
// slapd behind (Debian's slapd, which Start runs, is linux-only anyway).
func sysProcAttr() *syscall.SysProcAttr { return nil }
