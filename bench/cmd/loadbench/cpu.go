package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux this runs on).
const userHZ = 100

// processCPU returns the CPU time (user + system, all threads) a process
// has used so far, from /proc/<pid>/stat (pid 0: this process). It fails
// where there is no /proc.
func processCPU(pid int) (time.Duration, error) {
	p := "/proc/self/stat"
	if pid > 0 {
		p = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count from the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", p)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", p)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected format", p)
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// hostCPU is the machine-wide CPU time from /proc/stat: idle (idle +
// iowait), steal (taken by the hypervisor for other guests) and the rest.
type hostCPU struct{ busy, idle, steal time.Duration }

func readHostCPU() (hostCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return hostCPU{}, fmt.Errorf("/proc/stat: unexpected format")
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return hostCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	// user nice system idle iowait irq softirq steal
	return hostCPU{
		busy:  tick(v[0] + v[1] + v[2] + v[5] + v[6]),
		idle:  tick(v[3] + v[4]),
		steal: tick(v[7]),
	}, nil
}

// cpuMeter measures the CPU time of the serving process, the upstream's
// process and the load generator, and the host's idle and steal time,
// across one run.
type cpuMeter struct {
	pid, upPID       int
	srv0, up0, gen0  time.Duration
	host0            hostCPU
	ok, upOK, hostOK bool
}

// startCPU starts measuring; pid serves the target, upPID the upstream
// (0: not measured).
func startCPU(pid, upPID int) cpuMeter {
	m := cpuMeter{pid: pid, upPID: upPID}
	var err error
	if m.host0, err = readHostCPU(); err == nil {
		m.hostOK = true
	}
	if pid <= 0 {
		return m // in-process servers: not separable
	}
	var err1, err2 error
	m.srv0, err1 = processCPU(pid)
	m.gen0, err2 = processCPU(0)
	m.ok = err1 == nil && err2 == nil
	if upPID > 0 && upPID != pid {
		m.up0, err = processCPU(upPID)
		m.upOK = err == nil
	}
	return m
}

// stop fills the CPU fields of r.
func (m cpuMeter) stop(r *loadResult) {
	if m.hostOK {
		if h, err := readHostCPU(); err == nil {
			r.HostBusy, r.HostIdle, r.HostSteal = h.busy-m.host0.busy, h.idle-m.host0.idle, h.steal-m.host0.steal
		}
	}
	if m.upOK {
		if up, err := processCPU(m.upPID); err == nil {
			r.UpstreamCPU = up - m.up0
		}
	}
	if !m.ok {
		return
	}
	srv, err1 := processCPU(m.pid)
	gen, err2 := processCPU(0)
	if err1 != nil || err2 != nil {
		return
	}
	r.ServerCPU, r.LoadgenCPU = srv-m.srv0, gen-m.gen0
	if r.Requests > 0 {
		r.ServerCPUPerReq = r.ServerCPU / time.Duration(r.Requests)
	}
}
