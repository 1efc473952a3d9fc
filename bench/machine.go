package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeMachine writes what the figures depend on: kernel, CPUs, memory,
// versions, the date.
func writeMachine(w io.Writer, c config) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	memKB := procMeminfo("MemTotal")
	lxcfsVersion, _ := exec.Command(c.lxcfs, "--version").CombinedOutput()
	lxmountVersion, _ := exec.Command(c.lxmount, "version").CombinedOutput()
	fmt.Fprintf(w, "# lxmount benchmark\n\n")
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| date | %s |\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "| kernel | %s |\n", unix.ByteSliceToString(uts.Release[:]))
	fmt.Fprintf(w, "| CPU | %d x %s |\n", runtime.NumCPU(), model)
	fmt.Fprintf(w, "| memory | %d MiB |\n", memKB/1024)
	fmt.Fprintf(w, "| lxmount | %s |\n", strings.TrimSpace(string(lxmountVersion)))
	fmt.Fprintf(w, "| lxcfs | %s (--enable-loadavg --enable-cfs) |\n", strings.Trim(strings.TrimSpace(string(lxcfsVersion)), `"`))
	fmt.Fprintf(w, "| Go | %s |\n", runtime.Version())
	fmt.Fprintf(w, "| command | `make bench` (bin/lxmount-bench run %s) |\n", strings.Join(os.Args[2:], " "))
}

func procMeminfo(field string) int64 {
	return procStatusFile("/proc/meminfo", field)
}
