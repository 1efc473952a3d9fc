package sources

import (
	"bytes"
	"fmt"
	"strconv"
	"time"
)

// diskstatsFields is how many statistics a /proc/diskstats line has after
// the device name on Linux 5.5+; older kernels print 11 (before 4.18) or
// 15 (before 5.5).
const diskstatsFields = 17

// Diskstats appends the container's /proc/diskstats to dst. host is the
// host's /proc/diskstats: it gives the device names (by major:minor), their
// order and how many fields each line has. Like lxcfs's
// proc_diskstats_read, only devices on which the cgroup has I/O get a line
// (none may). Each line has the host's format (block/genhd.c
// diskstats_show, "%4d %7d %pg %lu %lu %lu %u ..."):
//
//	" 254       0 vda 8 0 16384 0 20 0 40960 0 0 0 0 0 0 0 0 0 0"
//	     1       2 3   4 5 6     7 8  9 10    11 ...            20
//
//	 4 reads completed     8 writes completed    12 I/Os in flight (0)
//	 5 reads merged        9 writes merged       13 ms doing I/O
//	 6 sectors read       10 sectors written     14 weighted ms doing I/O
//	 7 ms reading         11 ms writing       15-18 discards, as 4-7
//	                                          19-20 flushes, ms flushing (0)
//
// Sectors are bytes/512 (the kernel's sectors are always 512 bytes). Fields
// the cgroup cannot know are 0: in-flight I/Os and flushes always, merges
// and times unless DeviceIO has them. Field 14 is ms reading + writing +
// discarding, which is how current kernels compute it in diskstats_show
// (the sum of the per-direction nsecs, flushes included).
func Diskstats(dst, host []byte, devs []DeviceIO) ([]byte, error) {
	for len(host) > 0 {
		var line []byte
		line, host, _ = bytes.Cut(host, []byte{'\n'})
		majorF, rest := nextField(line)
		if majorF == nil {
			continue
		}
		minorF, rest := nextField(rest)
		name, rest := nextField(rest)
		if name == nil {
			return dst, fmt.Errorf("parse diskstats: unexpected line %q", line)
		}
		major, err := strconv.ParseUint(string(majorF), 10, 32)
		if err != nil {
			return dst, fmt.Errorf("parse diskstats: line %q: %w", line, err)
		}
		minor, err := strconv.ParseUint(string(minorF), 10, 32)
		if err != nil {
			return dst, fmt.Errorf("parse diskstats: line %q: %w", line, err)
		}
		d := findDeviceIO(devs, uint32(major), uint32(minor))
		if d == nil {
			continue
		}
		v := diskstatsValues(d)
		if v == ([diskstatsFields]uint64{}) {
			continue // lxcfs prints no line for a device without I/O
		}
		n := 0
		for f, r := nextField(rest); f != nil; f, r = nextField(r) {
			n++
		}
		dst = appendPadded(dst, major, 4)
		dst = append(dst, ' ')
		dst = appendPadded(dst, minor, 7)
		dst = append(dst, ' ')
		dst = append(dst, name...)
		for i := 0; i < n; i++ {
			dst = append(dst, ' ')
			if i < diskstatsFields {
				dst = strconv.AppendUint(dst, v[i], 10)
			} else {
				dst = append(dst, '0') // a field newer than this code
			}
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

// diskstatsValues maps d to the statistics of a /proc/diskstats line, in
// order. Times are unsigned int in the kernel and wrap at 2^32 ms.
func diskstatsValues(d *DeviceIO) [diskstatsFields]uint64 {
	const sector = 512
	ms := func(v uint64) uint64 { return uint64(uint32(v)) }
	return [diskstatsFields]uint64{
		d.ReadIOs, d.ReadMerged, d.ReadBytes / sector, ms(d.ReadTicks),
		d.WriteIOs, d.WriteMerged, d.WriteBytes / sector, ms(d.WriteTicks),
		0, // I/Os in flight: not accounted per cgroup
		ms(d.IOTicks),
		ms(d.ReadTicks + d.WriteTicks + d.DiscardTicks),
		d.DiscardIOs, d.DiscardMerged, d.DiscardBytes / sector, ms(d.DiscardTicks),
		0, 0, // flushes: not accounted per cgroup
	}
}

// findDeviceIO returns the entry of devs for major:minor, or nil.
func findDeviceIO(devs []DeviceIO, major, minor uint32) *DeviceIO {
	for i := range devs {
		if devs[i].Major == major && devs[i].Minor == minor {
			return &devs[i]
		}
	}
	return nil
}

// nextField returns the first space-separated field of s and what follows
// it, or nil when s holds no more fields.
func nextField(s []byte) (field, rest []byte) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i == len(s) {
		return nil, nil
	}
	j := i
	for j < len(s) && s[j] != ' ' {
		j++
	}
	return s[i:j], s[j:]
}

// appendPadded appends v right-aligned in width columns, like printf's %*d.
func appendPadded(dst []byte, v uint64, width int) []byte {
	var num [20]byte
	digits := strconv.AppendUint(num[:0], v, 10)
	for i := len(digits); i < width; i++ {
		dst = append(dst, ' ')
	}
	return append(dst, digits...)
}

// renderDiskstats serves /proc/diskstats from the cgroup's per-device I/O.
// When the cgroup has no I/O accounting at all (no blkio or io controller,
// or the cgroup was removed) the host's file is served unchanged, as lxcfs
// does (read_file_fuse when the blkio files are missing): an empty file
// would claim that no disk exists.
func renderDiskstats(c *Container, now time.Time, buf *bytes.Buffer) error {
	path := c.Host.proc("diskstats")
	hb := c.getBuf()
	defer c.putBuf(hb)
	host, err := c.read(c.Host.ProcRoot, "diskstats", *hb)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	*hb = host
	r := c.fileReader()
	defer c.putReader(r)
	devs, ok, err := r.cgroupIO(c.Cgroup)
	if err != nil {
		return err
	}
	if !ok {
		buf.Write(host)
		return nil
	}
	out, err := Diskstats(buf.AvailableBuffer(), host, devs)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	buf.Write(out)
	return nil
}
