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

// renderUptime renders /proc/uptime for c: the time since the container's
// init started, and as idle the sum of the visible CPUs' idle of
// /proc/stat (see cpuTicks), so the two files agree. The host's file is
// served unchanged when Options.Uptime is "host", when the start time is
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
