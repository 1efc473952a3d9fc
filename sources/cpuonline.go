package sources

import (
	"bytes"
	"strconv"
	"time"
)

// CPUOnline renders /sys/devices/system/cpu/online for a view of n CPUs
// numbered 0..n-1: "0-3\n", or "0\n" for one CPU (drivers/base/cpu.c
// prints cpu_online_mask with "%*pbl\n"). n < 1 counts as 1.
func CPUOnline(n int) []byte {
	var buf bytes.Buffer
	writeCPUOnline(&buf, n)
	return buf.Bytes()
}

// writeCPUOnline is CPUOnline writing into buf.
func writeCPUOnline(buf *bytes.Buffer, n int) {
	var b [24]byte
	buf.WriteByte('0')
	if n > 1 {
		buf.WriteByte('-')
		buf.Write(strconv.AppendInt(b[:0], int64(n-1), 10))
	}
	buf.WriteByte('\n')
}

// renderCPUOnline renders the online CPU list of c's view (see
// Container.visibleCPUs).
func renderCPUOnline(c *Container, now time.Time, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	visible, err := c.cpuView(r)
	if err != nil {
		return err
	}
	writeCPUOnline(buf, len(visible))
	return nil
}
