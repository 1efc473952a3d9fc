package sources

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseIOStatFieldMapping(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []DeviceIO
	}{
		{
			name: "values 1..6 in kernel order",
			in:   "8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n",
			want: []DeviceIO{{Major: 8, Minor: 16, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4, DiscardBytes: 5, DiscardIOs: 6}},
		},
		{
			name: "keys in another order",
			in:   "8:16 dios=6 dbytes=5 wios=4 rios=3 wbytes=2 rbytes=1\n",
			want: []DeviceIO{{Major: 8, Minor: 16, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4, DiscardBytes: 5, DiscardIOs: 6}},
		},
		{
			name: "iocost and iolatency keys are ignored",
			in:   "259:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6 cost.vrate=100.00 cost.usage=7 cost.wait=8 cost.indebt=9 cost.indelay=10 use_delay=0 delay_nsec=0\n",
			want: []DeviceIO{{Major: 259, Minor: 0, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4, DiscardBytes: 5, DiscardIOs: 6}},
		},
		{
			name: "before Linux 4.19 there are no discard keys",
			in:   "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n",
			want: []DeviceIO{{Major: 8, Minor: 0, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4}},
		},
		{
			name: "two devices",
			in:   "254:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n254:0 rbytes=7 wbytes=8 rios=9 wios=10 dbytes=11 dios=12\n",
			want: []DeviceIO{
				{Major: 254, Minor: 16, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4, DiscardBytes: 5, DiscardIOs: 6},
				{Major: 254, Minor: 0, ReadBytes: 7, WriteBytes: 8, ReadIOs: 9, WriteIOs: 10, DiscardBytes: 11, DiscardIOs: 12},
			},
		},
		{name: "empty file of a cgroup without I/O", in: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIOStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseIOStatErrors(t *testing.T) {
	for _, in := range []string{
		"8:16 rbytes\n",
		"sda rbytes=1\n",
		"8:16 rbytes=x\n",
		"8:16 rbytes=-1\n",
		"8 rbytes=1\n",
	} {
		if got, err := parseIOStat([]byte(in)); err == nil {
			t.Errorf("parseIOStat(%q) = %+v, want an error", in, got)
		}
	}
}

func TestParseBlkioRWStatFieldMapping(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []blkioStat
	}{
		{
			name: "values 1..6 per operation",
			in:   "8:0 Read 1\n8:0 Write 2\n8:0 Sync 3\n8:0 Async 4\n8:0 Discard 5\n8:0 Total 6\nTotal 6\n",
			want: []blkioStat{{Major: 8, Minor: 0, Read: 1, Write: 2, Discard: 5, Total: 6}},
		},
		{
			name: "before Linux 4.19 there is no Discard line",
			in:   "8:0 Read 1\n8:0 Write 2\n8:0 Sync 3\n8:0 Async 4\n8:0 Total 5\nTotal 5\n",
			want: []blkioStat{{Major: 8, Minor: 0, Read: 1, Write: 2, Total: 5}},
		},
		{
			name: "two devices",
			in: "7:0 Read 1\n7:0 Write 2\n7:0 Sync 3\n7:0 Async 4\n7:0 Discard 5\n7:0 Total 6\n" +
				"8:16 Read 7\n8:16 Write 8\n8:16 Sync 9\n8:16 Async 10\n8:16 Discard 11\n8:16 Total 12\nTotal 18\n",
			want: []blkioStat{
				{Major: 7, Minor: 0, Read: 1, Write: 2, Discard: 5, Total: 6},
				{Major: 8, Minor: 16, Read: 7, Write: 8, Discard: 11, Total: 12},
			},
		},
		{name: "no device: only the grand total", in: "Total 0\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBlkioRWStat([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseBlkioRWStatErrors(t *testing.T) {
	for _, in := range []string{
		"8:0 Read\n",
		"8:0 Read x\n",
		"sda Read 1\n",
		"8:0 Read 1 2\n",
	} {
		if got, err := parseBlkioRWStat([]byte(in)); err == nil {
			t.Errorf("parseBlkioRWStat(%q) = %+v, want an error", in, got)
		}
	}
}

// writeCgroupFiles creates a fake cgroup directory holding files.
func writeCgroupFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rwstat renders a v1 blkio rwstat file for device 8:0.
func rwstat(read, write, discard, total string) string {
	return "8:0 Read " + read + "\n8:0 Write " + write + "\n8:0 Sync 0\n8:0 Async 0\n8:0 Discard " + discard +
		"\n8:0 Total " + total + "\nTotal " + total + "\n"
}

func TestReadBlkioV1FieldMapping(t *testing.T) {
	throttle := map[string]string{
		"blkio.throttle.io_serviced_recursive":      rwstat("1", "2", "3", "6"),
		"blkio.throttle.io_service_bytes_recursive": rwstat("4", "5", "6", "15"),
	}
	counts := DeviceIO{Major: 8, ReadIOs: 1, WriteIOs: 2, DiscardIOs: 3, ReadBytes: 4, WriteBytes: 5, DiscardBytes: 6}
	withTimes := counts
	withTimes.ReadMerged, withTimes.WriteMerged, withTimes.DiscardMerged = 7, 8, 9
	// Service time 10..12 ms plus wait time 13..15 ms; total service time 40 ms.
	withTimes.ReadTicks, withTimes.WriteTicks, withTimes.DiscardTicks = 10+13, 11+14, 12+15
	withTimes.IOTicks = 40

	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range throttle {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	timing := func(prefix string) map[string]string {
		return map[string]string{
			prefix + "io_merged_recursive":       rwstat("7", "8", "9", "24"),
			prefix + "io_service_time_recursive": rwstat("10000000", "11000000", "12000000", "40999999"),
			prefix + "io_wait_time_recursive":    rwstat("13000000", "14000000", "15000000", "42000000"),
		}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []DeviceIO
	}{
		{name: "throttle counts only", files: throttle, want: []DeviceIO{counts}},
		{name: "CFQ merges and times (before Linux 5.0)", files: with(timing("blkio.")), want: []DeviceIO{withTimes}},
		{name: "BFQ merges and times (CONFIG_BFQ_CGROUP_DEBUG)", files: with(timing("blkio.bfq.")), want: []DeviceIO{withTimes}},
		{
			name: "non-recursive throttle files when the recursive ones are missing",
			files: map[string]string{
				"blkio.throttle.io_serviced":      rwstat("1", "2", "3", "6"),
				"blkio.throttle.io_service_bytes": rwstat("4", "5", "6", "15"),
			},
			want: []DeviceIO{counts},
		},
		{
			name: "recursive files preferred",
			files: with(map[string]string{
				"blkio.throttle.io_serviced":      rwstat("100", "100", "100", "300"),
				"blkio.throttle.io_service_bytes": rwstat("100", "100", "100", "300"),
			}),
			want: []DeviceIO{counts},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := readCgroupIO(Cgroup{V1: map[string]string{"blkio": writeCgroupFiles(t, tt.files)}})
			if err != nil || !ok {
				t.Fatalf("readCgroupIO: ok %v, err %v", ok, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadCgroupIOSources(t *testing.T) {
	v2 := writeCgroupFiles(t, map[string]string{"io.stat": "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n"})
	fromV2 := []DeviceIO{{Major: 8, ReadBytes: 1, WriteBytes: 2, ReadIOs: 3, WriteIOs: 4, DiscardBytes: 5, DiscardIOs: 6}}
	tests := []struct {
		name   string
		cg     Cgroup
		want   []DeviceIO
		wantOK bool
	}{
		{name: "v2 io.stat", cg: Cgroup{V2: v2}, want: fromV2, wantOK: true},
		{name: "v2 empty io.stat: accounted, no I/O", cg: Cgroup{V2: writeCgroupFiles(t, map[string]string{"io.stat": ""})}, wantOK: true},
		{name: "v1 blkio without throttle files falls back to v2", cg: Cgroup{V1: map[string]string{"blkio": t.TempDir()}, V2: v2}, want: fromV2, wantOK: true},
		{name: "v1 blkio with only one throttle file is not accounted", cg: Cgroup{V1: map[string]string{"blkio": writeCgroupFiles(t, map[string]string{
			"blkio.throttle.io_serviced_recursive": "Total 0\n"})}}},
		{name: "v2 without io.stat", cg: Cgroup{V2: t.TempDir()}},
		{name: "nothing bound", cg: Cgroup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := readCgroupIO(tt.cg)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, ok %v; want %+v, ok %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadCgroupIOParseErrorIsAnError(t *testing.T) {
	for _, cg := range []Cgroup{
		{V2: writeCgroupFiles(t, map[string]string{"io.stat": "garbage\n"})},
		{V1: map[string]string{"blkio": writeCgroupFiles(t, map[string]string{
			"blkio.throttle.io_serviced_recursive":      "8:0 Read x\n",
			"blkio.throttle.io_service_bytes_recursive": "Total 0\n",
		})}},
	} {
		if _, _, err := readCgroupIO(cg); err == nil {
			t.Errorf("readCgroupIO(%+v): no error for a malformed file", cg)
		}
	}
}
