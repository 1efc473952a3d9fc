package main

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// What the soak expects of every read: the checks are those a program
// sizing itself from the file would rely on, against the limits the soak
// itself wrote into the container's cgroup (not what lxmount reports).

// soakExpect is what one container must see.
type soakExpect struct {
	memKB   int64     // MemTotal: memory.limit_in_bytes / 1024
	cpus    int       // ceil(cfs_quota_us / cfs_period_us), at most the host's CPUs
	created time.Time // taken before the container's init was started
}

// uptimeSlack is how far /proc/uptime may exceed the container's age as
// the soak measures it: the init's start time counts in clock ticks
// (USER_HZ, 10 ms, truncated) and uptime is printed with 2 decimals, so
// lxmount's figure can be up to ~20 ms above the true age; created is
// taken before the fork, so the measured age is never below the true one.
const uptimeSlack = 50 * time.Millisecond

// soakCheck checks the content of one read of target (a path inside the
// container) against e; nil when it is right.
func soakCheck(target string, b []byte, e soakExpect) error {
	s := string(b)
	if len(s) == 0 && target != "/proc/diskstats" {
		return fmt.Errorf("empty")
	}
	if len(s) > 0 && !strings.HasSuffix(s, "\n") {
		return fmt.Errorf("no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	switch target {
	case "/proc/meminfo":
		return checkMeminfo(lines, e)
	case "/proc/cpuinfo":
		n := 0
		for _, l := range lines {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "processor" {
				if strings.TrimSpace(v) != strconv.Itoa(n) {
					return fmt.Errorf("processor %q, want %d", strings.TrimSpace(v), n)
				}
				n++
			}
		}
		if n != e.cpus {
			return fmt.Errorf("%d processors, want %d", n, e.cpus)
		}
	case "/proc/stat":
		n := 0
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
				continue
			}
			if len(f) < 9 {
				return fmt.Errorf("line %q: %d fields", l, len(f))
			}
			if err := allUints(f[1:]); err != nil {
				return fmt.Errorf("line %q: %w", l, err)
			}
			if f[0] != "cpu" {
				if f[0] != "cpu"+strconv.Itoa(n) {
					return fmt.Errorf("line %q: want cpu%d", f[0], n)
				}
				n++
			}
		}
		if n != e.cpus {
			return fmt.Errorf("%d cpuN lines, want %d", n, e.cpus)
		}
	case "/proc/uptime":
		f := strings.Fields(s)
		if len(f) != 2 {
			return fmt.Errorf("%d fields", len(f))
		}
		up, err1 := strconv.ParseFloat(f[0], 64)
		idle, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil || up < 0 || idle < 0 {
			return fmt.Errorf("does not parse: %q", s)
		}
		age := time.Since(e.created)
		if time.Duration(up*float64(time.Second)) > age+uptimeSlack {
			return fmt.Errorf("uptime %.2f s, the container is %.3f s old", up, age.Seconds())
		}
	case "/proc/loadavg":
		f := strings.Fields(s)
		if len(f) != 5 || len(lines) != 1 {
			return fmt.Errorf("%d fields", len(f))
		}
		for _, v := range f[:3] {
			if x, err := strconv.ParseFloat(v, 64); err != nil || x < 0 {
				return fmt.Errorf("load %q", v)
			}
		}
		r, t, ok := strings.Cut(f[3], "/")
		if !ok || allUints([]string{r, t, f[4]}) != nil {
			return fmt.Errorf("runnable/total or last pid %q %q", f[3], f[4])
		}
	case "/proc/diskstats":
		if s == "" {
			return nil
		}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) < 14 {
				return fmt.Errorf("line %q: %d fields", l, len(f))
			}
			if err := allUints(append(f[:2:2], f[3:]...)); err != nil {
				return fmt.Errorf("line %q: %w", l, err)
			}
		}
	case "/proc/swaps":
		if !strings.HasPrefix(lines[0], "Filename") {
			return fmt.Errorf("header %q", lines[0])
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) != 5 || allUints(f[2:4]) != nil {
				return fmt.Errorf("line %q", l)
			}
		}
	case "/sys/devices/system/cpu/online":
		want := "0"
		if e.cpus > 1 {
			want = fmt.Sprintf("0-%d", e.cpus-1)
		}
		if strings.TrimSpace(s) != want {
			return fmt.Errorf("%q, want %q", strings.TrimSpace(s), want)
		}
	case "/proc/slabinfo":
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "slabinfo - version: ") || !strings.HasPrefix(lines[1], "# name") {
			return fmt.Errorf("header %q", lines[0])
		}
		for _, l := range lines[2:] {
			if f := strings.Fields(l); len(f) != 16 || allUints(f[1:6]) != nil {
				return fmt.Errorf("line %q", l)
			}
		}
	case "/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io":
		for _, l := range lines {
			if !strings.HasPrefix(l, "some ") && !strings.HasPrefix(l, "full ") {
				return fmt.Errorf("line %q", l)
			}
		}
	default:
		return fmt.Errorf("no check for %s", target)
	}
	return nil
}

func checkMeminfo(lines []string, e soakExpect) error {
	vals := map[string]int64{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		f := strings.Fields(v)
		if !ok || len(f) == 0 || len(f) > 2 || (len(f) == 2 && f[1] != "kB") {
			return fmt.Errorf("line %q", l)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return fmt.Errorf("line %q: %w", l, err)
		}
		vals[k] = n
	}
	if vals["MemTotal"] != e.memKB {
		return fmt.Errorf("MemTotal %d kB, want %d", vals["MemTotal"], e.memKB)
	}
	for _, k := range []string{"MemFree", "MemAvailable"} {
		if v, ok := vals[k]; !ok || v > e.memKB {
			return fmt.Errorf("%s %d kB (present %v), MemTotal %d", k, v, ok, e.memKB)
		}
	}
	return nil
}

func allUints(fs []string) error {
	for _, f := range fs {
		if _, err := strconv.ParseUint(f, 10, 64); err != nil {
			return fmt.Errorf("field %q is not a count", f)
		}
	}
	return nil
}

var cpuDirRE = regexp.MustCompile(`^cpu[0-9]+$`)

// soakCheckSysCPU checks the listing of /sys/devices/system/cpu (sys_cpu):
// exactly the container's CPUs, cpu0..cpu(n-1).
func soakCheckSysCPU(e soakExpect) error {
	des, err := os.ReadDir("/sys/devices/system/cpu")
	if err != nil {
		return err
	}
	n := 0
	for _, de := range des {
		if cpuDirRE.MatchString(de.Name()) {
			n++
		}
	}
	if n != e.cpus {
		return fmt.Errorf("%d cpuN directories, want %d", n, e.cpus)
	}
	return nil
}
