package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// parentOf reads the parent process id (field 4 of /proc/<pid>/stat).
func parentOf(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0, fmt.Errorf("stat: %d fields", len(fields)+2)
	}
	return strconv.Atoi(fields[1])
}

// parents maps every process now in /proc to its parent.
func parents() (map[int]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if ppid, err := parentOf(stat); err == nil {
			out[pid] = ppid
		}
	}
	return out, nil
}

// descendants is root and every process below it in parent, sorted by
// nothing in particular but root first.
func descendants(root int, parent map[int]int) []int {
	children := map[int][]int{}
	for pid, ppid := range parent {
		if pid != root {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeCPU is the CPU time used so far by root and each of its descendants
// that still exists, by process id.
func treeCPU(root int) (map[int]time.Duration, error) {
	parent, err := parents()
	if err != nil {
		return nil, err
	}
	out := map[int]time.Duration{}
	for _, pid := range descendants(root, parent) {
		if c, err := cpuTime(pid); err == nil {
			out[pid] = c
		} else if pid == root {
			return nil, err
		}
	}
	return out, nil
}

// cpuDelta is the CPU time the processes used between two treeCPU readings:
// a process that appeared meanwhile counts from zero; one that is gone by
// the second reading counts for nothing (its last ticks are lost, which
// gunicorn's workers, never recycled here, do not do).
func cpuDelta(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, c := range after {
		d += c - before[pid]
	}
	return d
}

// treeMeter measures the CPU time of root's process tree.
func treeMeter(root int) cpuMeter {
	return func() (func() (time.Duration, error), error) {
		before, err := treeCPU(root)
		if err != nil {
			return nil, err
		}
		return func() (time.Duration, error) {
			after, err := treeCPU(root)
			if err != nil {
				return 0, err
			}
			return cpuDelta(before, after), nil
		}, nil
	}
}
