package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// Uptime renders /proc/uptime: the time since boot and the idle time
// summed over the CPUs, in seconds with two decimals (fs/proc/uptime.c,
// "%lu.%02lu %lu.%02lu\n", which truncates to hundredths rather than
// rounding). Negative durations print as 0.
//
//	800.72 1271.74
//	^      ^ idle, summed over CPUs
//	uptime
func Uptime(up, idle time.Duration) []byte {
	var buf bytes.Buffer
	writeUptime(&buf, up, idle)
	return buf.Bytes()
}

// writeUptime is Uptime writing into buf.
func writeUptime(buf *bytes.Buffer, up, idle time.Duration) {
	var b [48]byte
	out := appendCentis(b[:0], up)
	out = append(out, ' ')
	out = appendCentis(out, idle)
	out = append(out, '\n')
	buf.Write(out)
}

// appendCentis appends d as seconds with two truncated decimals.
func appendCentis(b []byte, d time.Duration) []byte {
	cs := max(d, 0) / (10 * time.Millisecond)
	b = strconv.AppendInt(b, int64(cs/100), 10)
	b = append(b, '.', byte('0'+cs%100/10), byte('0'+cs%10))
	return b
}

// earlyAttach bounds how long after its init's start a container counts as
// attached before it ran (ResolveUptime): the event watch attaches at the
// init's exec, within tens of milliseconds (docs/benchmarks.md).
const earlyAttach = 2 * time.Second

// ResolveUptime decides what /proc/uptime shows a container whose policy
// says src, attached at now: src itself unless it is UptimeAuto; then
// UptimeContainer when the container was attached before its first
// instruction (early: by its runtime's createRuntime hook through
// lxmount-runc or oci-hooks; or within earlyAttach of its init's start:
// the event watch), else UptimeHost.
//
// Why: without a time namespace the kernel counts every process's start
// time in /proc/<pid>/stat from the host's boot, and ps (etime, %CPU =
// CPU time / (uptime - start)), pgrep/pkill -O and top's per-process
// ages compute from /proc/uptime minus that start, so a container's age
// in /proc/uptime makes them wrong (ps etime negative, %CPU 0). A
// container attached while it runs has read the host's uptime already:
// its programs keep working and no clock of theirs goes backwards. One
// attached before its first instruction has never seen another uptime
// than its own, which is what uptime, w, top's header, sysinfo(2) and
// Node's os.uptime() then show; ps's ages are the cost (set "host" to
// keep them), unless the runtime gave it a time namespace, where the
// kernel itself counts start times from the container's creation and
// both are right.
func ResolveUptime(src UptimeSource, early bool, initStart, now time.Time) UptimeSource {
	if src != UptimeAuto {
		return src
	}
	if early || !initStart.IsZero() && now.Sub(initStart) < earlyAttach {
		return UptimeContainer
	}
	return UptimeHost
}

// renderUptime renders /proc/uptime for c: the time since the container's
// init started, and as idle the sum of the visible CPUs' idle of
// /proc/stat (see cpuTicks), so the two files agree. The host's file is
// served unchanged when Options.Uptime is "host" (ResolveUptime), when the start time is
// unknown, or when the idle time cannot be computed (no CPU view, host
// /proc/stat unreadable).
func renderUptime(c *Container, now time.Time, buf *bytes.Buffer) error {
	if c.Options.Uptime == UptimeHost || c.InitStart.IsZero() {
		return copyHostUptime(c, buf)
	}
	r := c.fileReader()
	defer c.putReader(r)
	visible, err := c.cpuView(r)
	if err != nil {
		return copyHostUptime(c, buf)
	}
	ticks, err := c.cpuTicks(r, now, visible, func() ([]byte, error) {
		b, err := r.file(c.Host.ProcRoot, "stat")
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.Host.proc("stat"), err)
		}
		return b, nil
	})
	if err != nil || len(ticks) == 0 {
		return copyHostUptime(c, buf)
	}
	var idle uint64
	for _, t := range ticks {
		idle += t.Idle
	}
	writeUptime(buf, now.Sub(c.InitStart), time.Duration(idle)*time.Duration(nsPerTick))
	return nil
}

// copyHostUptime writes the host's /proc/uptime into buf.
func copyHostUptime(c *Container, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	b, err := r.file(c.Host.ProcRoot, "uptime")
	if err != nil {
		return fmt.Errorf("read %s: %w", c.Host.proc("uptime"), err)
	}
	buf.Write(b)
	return nil
}
