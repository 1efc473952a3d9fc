package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// swapsHeader is the first line of /proc/swaps as current kernels print it
// (mm/swapfile.c swap_show; older kernels had single tabs after Size and
// Used).
const swapsHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

// Swaps appends to dst the /proc/swaps that a container with memory cgroup
// m sees, and returns the extended slice. hostSwaps and hostMeminfo are the
// host's /proc/swaps and /proc/meminfo. SwapHost, or SwapCgroup with a swap
// limit that could not be read, gives the host's file unchanged. Otherwise
// the header is followed, when the container has swap (the SwapTotal its
// /proc/meminfo shows is not 0), by one line for a virtual device as lxcfs
// prints it:
//
//	none                                    virtual	65532		1024		0
//	^ name, padded to 40 columns            ^ type  ^ size kB   ^ used kB   ^ priority
//
// The padding and the tabs follow the kernel's swap_show, so the columns
// line up with the header. Swaps does no I/O.
func Swaps(dst, hostSwaps, hostMeminfo []byte, m Memory, mode SwapMode) []byte {
	if mode == SwapHost {
		return append(dst, hostSwaps...)
	}
	sw, ok := memSwapView(parseHostMeminfo(hostMeminfo), m, mode)
	if !ok {
		return append(dst, hostSwaps...)
	}
	dst = append(dst, swapsHeader...)
	if sw.total == 0 {
		return dst
	}
	const name = "none"
	dst = append(dst, name...)
	dst = append(dst, "                                        "[:40-len(name)]...)
	dst = append(dst, "virtual\t"...)
	dst = appendSwapsKB(dst, sw.total)
	dst = appendSwapsKB(dst, sw.total-sw.free)
	// lxcfs shows priority 0; the kernel numbers devices without one
	// from -2 down.
	return append(dst, "0\n"...)
}

// appendSwapsKB appends a size column as swap_show does: the number, a
// tab, and a second tab when the number is below 10000000.
func appendSwapsKB(dst []byte, kb uint64) []byte {
	dst = strconv.AppendUint(dst, kb, 10)
	if kb < 10000000 {
		dst = append(dst, '\t')
	}
	return append(dst, '\t')
}

// renderSwaps serves /proc/swaps. Failing to read the host's /proc/swaps or
// /proc/meminfo is an error; cgroup values that cannot be read are not
// (see Swaps).
func renderSwaps(c *Container, now time.Time, buf *bytes.Buffer) error {
	wb, hb, sb := c.getBuf(), c.getBuf(), c.getBuf()
	defer c.putBuf(wb)
	defer c.putBuf(hb)
	defer c.putBuf(sb)
	hostSwaps, err := c.read(c.Host.ProcRoot, "swaps", *wb)
	if err != nil {
		return fmt.Errorf("read host swaps: %w", err)
	}
	*wb = hostSwaps
	hostMeminfo, err := readHostMeminfo(c.read, c.Host, *hb)
	if err != nil {
		return err
	}
	*hb = hostMeminfo
	// As in renderMeminfo, unknown values fall back to the host's.
	m, _ := readMemory(c.read, *sb, c.Cgroup)
	buf.Write(Swaps(buf.AvailableBuffer(), hostSwaps, hostMeminfo, m, c.Options.Swap))
	return nil
}
