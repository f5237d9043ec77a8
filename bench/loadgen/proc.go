package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the generator reads of a server process (Linux /proc) and of itself
// (getrusage), to put the server's cost and its own next to every figure.

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever CONFIG_HZ is).
const clockTick = 100

// procStatus returns the fields of /proc/<pid>/status named keys (kB values
// such as VmRSS and VmHWM), in bytes.
func procStatus(pid int, keys ...string) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(keys))
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, k := range keys {
			if name != k {
				continue
			}
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
			}
			if len(f) > 1 && f[1] == "kB" {
				n *= 1024
			}
			out[k] = n
		}
	}
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("/proc/%d/status has no %s", pid, k)
		}
	}
	return out, nil
}

// rss is the resident set size of pid, in bytes.
func rss(pid int) (int64, error) {
	m, err := procStatus(pid, "VmRSS")
	return m["VmRSS"], err
}

// peakRSS is the high-water mark of pid's resident set (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	m, err := procStatus(pid, "VmHWM")
	return m["VmHWM"], err
}

// cpuTime is the CPU time (user + system) pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[utime], 10, 64)
	s, err2 := strconv.ParseInt(f[stime], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[utime], f[stime])
	}
	return time.Duration(u+s) * time.Second / clockTick, nil
}

// openFDs counts pid's open file descriptors.
func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// selfCPU is the CPU time (user + system) this process has used so far,
// every thread included, children excluded.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU use of a server process and of this process over
// a window, each as a percentage of one core.
type cpuMeter struct {
	pid       int
	start     time.Time
	srv, self time.Duration
	srvErr    error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now(), self: selfCPU()}
	m.srv, m.srvErr = cpuTime(pid)
	return m
}

// stop returns the server's and this process's CPU use since start, in
// percent of one core.
func (m *cpuMeter) stop() (server, self float64, err error) {
	wall := time.Since(m.start)
	selfNow := selfCPU()
	srvNow, err := cpuTime(m.pid)
	if m.srvErr != nil {
		err = m.srvErr
	}
	if wall <= 0 {
		return 0, 0, err
	}
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall.Seconds() }
	return pct(srvNow - m.srv), pct(selfNow - m.self), err
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
