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
	machine   machineCPU
	writes    int64
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now(), self: selfCPU(), machine: readMachineCPU(), writes: writeCalls(pid)}
	m.srv, m.srvErr = cpuTime(pid)
	return m
}

// serverWrites is how many write system calls (socket and file: syscw of
// /proc/<pid>/io) the server made since start; -1 if unknown.
func (m *cpuMeter) serverWrites() int64 {
	now := writeCalls(m.pid)
	if now < 0 || m.writes < 0 {
		return -1
	}
	return now - m.writes
}

// writeCalls is the syscw line of /proc/<pid>/io, -1 if unreadable.
func writeCalls(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// machineUse is how the whole machine spent its CPU time since start.
func (m *cpuMeter) machineUse() machineUse { return m.machine.to(readMachineCPU()) }

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

// machineCPU is the first line of /proc/stat: time every CPU of the
// machine spent in each state, in clock ticks.
type machineCPU struct{ busy, idle, iowait, steal int64 }

func readMachineCPU() machineCPU {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return machineCPU{busy: v[0] + v[1] + v[2] + v[5] + v[6], idle: v[3], iowait: v[4], steal: v[7]}
}

// machineUse is how the whole machine's CPU time was spent over a window,
// in percent of all its CPUs.
type machineUse struct {
	Busy   float64 `json:"busy"`
	IOWait float64 `json:"iowait"`
	Steal  float64 `json:"steal"`
}

func (a machineCPU) to(b machineCPU) machineUse {
	total := float64((b.busy - a.busy) + (b.idle - a.idle) + (b.iowait - a.iowait) + (b.steal - a.steal))
	if total <= 0 {
		return machineUse{}
	}
	pct := func(x int64) float64 { return 100 * float64(x) / total }
	return machineUse{Busy: pct(b.busy - a.busy), IOWait: pct(b.iowait - a.iowait), Steal: pct(b.steal - a.steal)}
}
