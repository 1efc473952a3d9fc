package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor"
)

func renderCommand() *command {
	var pid int
	var cgroup, cpuView, swap string
	c := &command{
		name:    "render",
		summary: "print what a container would see in a virtual file, mounting nothing",
		usage:   "<file> (--pid PID | --cgroup PATH) [--cpu-view quota|cpuset] [--swap cgroup|none|host]",
		help: `Renders one virtual file for a container without mounting anything and
without a daemon: the tool for debugging a container's view. <file> is a
short name (meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps,
cpu_online, pressure_cpu, pressure_memory, pressure_io) or a target path
such as /proc/meminfo. --pid binds to the container of that process (its
init's start time gives uptime); --cgroup binds to a cgroup path (the same
path in every v1 hierarchy and in the unified one), with host uptime.
loadavg needs the daemon's 5 s sampling, so render shows 0.00 averages.

EXAMPLE:
  lxmount render meminfo --pid 4242
  lxmount render /proc/cpuinfo --cgroup /kubepods/burstable/pod1/abc --cpu-view cpuset`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&pid, "pid", 0, "a process of the container")
			fs.StringVar(&cgroup, "cgroup", "", "cgroup path, as in /proc/<pid>/cgroup")
			fs.StringVar(&cpuView, "cpu-view", string(sources.CPUViewQuota), "quota or cpuset")
			fs.StringVar(&swap, "swap", string(sources.SwapCgroup), "cgroup, none or host")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{"expects exactly one <file>"}
		}
		f, ok := lookupFile(pos[0])
		if !ok {
			var names []string
			for _, f := range sources.Files() {
				names = append(names, f.Name)
			}
			return usageError{fmt.Sprintf("unknown file %q (valid: %s)", pos[0], strings.Join(names, ", "))}
		}
		if (pid == 0) == (cgroup == "") {
			return usageError{"give exactly one of --pid or --cgroup"}
		}
		opts := sources.DefaultOptions()
		switch v := sources.CPUView(cpuView); v {
		case sources.CPUViewQuota, sources.CPUViewCpuset:
			opts.CPUView = v
		default:
			return usageError{fmt.Sprintf("bad --cpu-view %q (valid: quota, cpuset)", cpuView)}
		}
		switch v := sources.SwapMode(swap); v {
		case sources.SwapCgroup, sources.SwapNone, sources.SwapHost:
			opts.Swap = v
		default:
			return usageError{fmt.Sprintf("bad --swap %q (valid: cgroup, none, host)", swap)}
		}
		var ctr *sources.Container
		if pid != 0 {
			ctr, err = supervisor.BindPID(sources.DefaultHost(), pid, opts)
		} else {
			ctr, err = supervisor.BindCgroup(sources.DefaultHost(), cgroup, opts)
		}
		if err != nil {
			return err
		}
		if !f.Available(ctr) {
			return fmt.Errorf("%s is not available for this container (the kernel keeps no such file for its cgroup)", f.Name)
		}
		var buf bytes.Buffer
		if err := ctr.Render(f, &buf); err != nil {
			return err
		}
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return c
}

// lookupFile accepts a short name or a target path.
func lookupFile(s string) (sources.File, bool) {
	if f, ok := sources.Lookup(s); ok {
		return f, true
	}
	for _, f := range sources.Files() {
		if f.Target == s {
			return f, true
		}
	}
	return sources.File{}, false
}
