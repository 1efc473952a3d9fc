package sources

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
)

// DeviceIO is one block device's I/O as a cgroup accounts it. Devices are
// whole disks: the block layer charges a partition's I/O to its disk. A
// field the cgroup interface does not provide is 0 (v2 io.stat has no
// merges and no times; v1 has them only with CFQ or debug BFQ).
type DeviceIO struct {
	Major, Minor uint32

	ReadIOs, WriteIOs, DiscardIOs          uint64 // requests completed
	ReadBytes, WriteBytes, DiscardBytes    uint64
	ReadMerged, WriteMerged, DiscardMerged uint64 // requests merged (v1 io_merged)

	// Milliseconds spent: per direction the wait plus the service time
	// (v1 io_wait_time + io_service_time, as lxcfs's proc_diskstats_read
	// adds them); IOTicks is the total service time, which lxcfs shows as
	// the time spent doing I/O.
	ReadTicks, WriteTicks, DiscardTicks uint64
	IOTicks                             uint64
}

// readCgroupIO reads the per-device I/O of cg: the v1 blkio controller when
// the container is bound to one, else v2 io.stat. ok is false when the
// cgroup has no I/O accounting at all: no blkio controller and no io.stat
// (controller not enabled, or the cgroup was removed).
func readCgroupIO(cg Cgroup) (devs []DeviceIO, ok bool, err error) {
	return pathReader().cgroupIO(cg)
}

// cgroupIO is readCgroupIO reading through r.
func (r *fileReader) cgroupIO(cg Cgroup) (devs []DeviceIO, ok bool, err error) {
	if dir := cg.Controller("blkio"); dir != "" {
		devs, ok, err = r.blkioV1(dir)
		if ok || err != nil {
			return devs, ok, err
		}
	}
	if cg.V2 == "" {
		return nil, false, nil
	}
	path := filepath.Join(cg.V2, "io.stat")
	data, err := r.file(cg.V2, "io.stat")
	if err != nil {
		if isVanished(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	devs, err = parseIOStat(data)
	if err != nil {
		return nil, false, fmt.Errorf("parse %s: %w", path, err)
	}
	return devs, true, nil
}

// blkioV1 reads a v1 blkio cgroup directory. Counts and bytes come from
// blk-throttle's files, which exist with any I/O scheduler: the
// _recursive ones (the cgroup and its children) when the kernel has them,
// else the cgroup's own (older kernels have only those). Merges and times exist only as CFQ's
// blkio.io_* (kernels before 5.0) or BFQ's blkio.bfq.io_* (only with
// CONFIG_BFQ_CGROUP_DEBUG); they are used when present, like lxcfs does.
//
// Since Linux 6.10 or so blk-throttle counts I/O only on devices that have
// a throttle rule; devices without one are then simply absent here.
func (r *fileReader) blkioV1(dir string) (devs []DeviceIO, ok bool, err error) {
	serviced, ok, err := r.blkioFirst(dir, "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced")
	if !ok || err != nil {
		return nil, false, err
	}
	bytesDone, ok, err := r.blkioFirst(dir, "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes")
	if !ok || err != nil {
		return nil, false, err
	}
	merged, _, err := r.blkioFirst(dir, "blkio.io_merged_recursive", "blkio.bfq.io_merged_recursive")
	if err != nil {
		return nil, false, err
	}
	serviceTime, _, err := r.blkioFirst(dir, "blkio.io_service_time_recursive", "blkio.bfq.io_service_time_recursive")
	if err != nil {
		return nil, false, err
	}
	waitTime, _, err := r.blkioFirst(dir, "blkio.io_wait_time_recursive", "blkio.bfq.io_wait_time_recursive")
	if err != nil {
		return nil, false, err
	}

	for _, s := range serviced {
		d := deviceIOFor(&devs, s.Major, s.Minor)
		d.ReadIOs, d.WriteIOs, d.DiscardIOs = s.Read, s.Write, s.Discard
	}
	for _, s := range bytesDone {
		d := deviceIOFor(&devs, s.Major, s.Minor)
		d.ReadBytes, d.WriteBytes, d.DiscardBytes = s.Read, s.Write, s.Discard
	}
	for _, s := range merged {
		d := deviceIOFor(&devs, s.Major, s.Minor)
		d.ReadMerged, d.WriteMerged, d.DiscardMerged = s.Read, s.Write, s.Discard
	}
	// Times are in ns (CFQ and BFQ both add ktime differences).
	const nsPerMs = 1000000
	for _, s := range serviceTime {
		d := deviceIOFor(&devs, s.Major, s.Minor)
		d.ReadTicks += s.Read
		d.WriteTicks += s.Write
		d.DiscardTicks += s.Discard
		d.IOTicks = s.Total / nsPerMs
	}
	for _, s := range waitTime {
		d := deviceIOFor(&devs, s.Major, s.Minor)
		d.ReadTicks += s.Read
		d.WriteTicks += s.Write
		d.DiscardTicks += s.Discard
	}
	for i := range devs {
		devs[i].ReadTicks /= nsPerMs
		devs[i].WriteTicks /= nsPerMs
		devs[i].DiscardTicks /= nsPerMs
	}
	return devs, true, nil
}

// deviceIOFor returns the entry of *devs for major:minor, appending one if
// there is none. A cgroup has I/O on a handful of devices, so a linear
// search is cheapest.
func deviceIOFor(devs *[]DeviceIO, major, minor uint32) *DeviceIO {
	for i := range *devs {
		if d := &(*devs)[i]; d.Major == major && d.Minor == minor {
			return d
		}
	}
	*devs = append(*devs, DeviceIO{Major: major, Minor: minor})
	return &(*devs)[len(*devs)-1]
}

// blkioStat is one device's entry of a v1 blkio "rwstat" file.
type blkioStat struct {
	Major, Minor                uint32
	Read, Write, Discard, Total uint64
}

// blkioFirst reads and parses the first of names in dir that exists.
// ok is false when none does.
func (r *fileReader) blkioFirst(dir string, names ...string) (stats []blkioStat, ok bool, err error) {
	for _, name := range names {
		data, err := r.file(dir, name)
		if err != nil {
			if isVanished(err) {
				continue
			}
			return nil, false, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
		stats, err := parseBlkioRWStat(data)
		if err != nil {
			return nil, false, fmt.Errorf("parse %s: %w", filepath.Join(dir, name), err)
		}
		return stats, true, nil
	}
	return nil, false, nil
}

// parseBlkioRWStat parses a v1 blkio "rwstat" file (block/blk-cgroup-rwstat.c
// __blkg_prfill_rwstat), one device's operations on consecutive lines and
// a grand total at the end:
//
//	7:0 Read 8388608
//	7:0 Write 20971520
//	7:0 Sync 29360128
//	7:0 Async 0
//	7:0 Discard 0
//	7:0 Total 29360128
//	Total 29360128
//	1   2     3
//
// Discard lines exist since Linux 4.19. Sync, Async and the grand total
// are not used. A file with no device has only the "Total 0" line.
func parseBlkioRWStat(data []byte) ([]blkioStat, error) {
	var stats []blkioStat
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) == 0 || len(f) == 2 && string(f[0]) == "Total" {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		major, minor, err := parseDevNum(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		v, err := strconv.ParseUint(string(f[2]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		if n := len(stats); n == 0 || stats[n-1].Major != major || stats[n-1].Minor != minor {
			stats = append(stats, blkioStat{Major: major, Minor: minor})
		}
		s := &stats[len(stats)-1]
		switch string(f[1]) {
		case "Read":
			s.Read = v
		case "Write":
			s.Write = v
		case "Discard":
			s.Discard = v
		case "Total":
			s.Total = v
		}
	}
	return stats, nil
}

// parseIOStat parses a v2 io.stat file (block/blk-cgroup.c blkcg_print_one_stat),
// one line per device with I/O:
//
//	254:0 rbytes=8388608 wbytes=20971520 rios=8 wios=20 dbytes=0 dios=0
//	1     2              3               4      5       6        7
//
// Keys added by iocost, iolatency or debug builds (cost.vrate=..., avg_lat=...)
// are ignored.
func parseIOStat(data []byte) ([]DeviceIO, error) {
	var devs []DeviceIO
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		major, minor, err := parseDevNum(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		d := DeviceIO{Major: major, Minor: minor}
		for _, kv := range f[1:] {
			k, v, found := bytes.Cut(kv, []byte{'='})
			if !found {
				return nil, fmt.Errorf("line %q: no '=' in %q", line, kv)
			}
			var dst *uint64
			switch string(k) {
			case "rbytes":
				dst = &d.ReadBytes
			case "wbytes":
				dst = &d.WriteBytes
			case "dbytes":
				dst = &d.DiscardBytes
			case "rios":
				dst = &d.ReadIOs
			case "wios":
				dst = &d.WriteIOs
			case "dios":
				dst = &d.DiscardIOs
			default:
				continue
			}
			if *dst, err = strconv.ParseUint(string(v), 10, 64); err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// parseDevNum parses a "major:minor" device number.
func parseDevNum(s []byte) (major, minor uint32, err error) {
	ma, mi, found := bytes.Cut(s, []byte{':'})
	if !found {
		return 0, 0, fmt.Errorf("bad device number %q", s)
	}
	a, err := strconv.ParseUint(string(ma), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad device number %q: %w", s, err)
	}
	b, err := strconv.ParseUint(string(mi), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad device number %q: %w", s, err)
	}
	return uint32(a), uint32(b), nil
}
