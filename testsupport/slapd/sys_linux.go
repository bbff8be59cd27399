package slapd

import "syscall"

// sysProcAttr kills slapd when the thread that started it dies; start
// keeps that thread locked and alive until slapd exits.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
