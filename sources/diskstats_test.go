package sources

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The -update flag rewrites golden files. It is registered here unless
// another test file of the package already did (package variables are
// initialized before init functions run).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/golden")
	}
}

// matchGoldenFile compares got with testdata/golden/<name>, or rewrites
// that file when the test runs with -update.
func matchGoldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// ioFixtureContainer binds a container to the captured fixtures:
// gen is "v1" or "v2", variant "limited" or "nolimit".
func ioFixtureContainer(gen, variant string) *Container {
	host := Host{ProcRoot: filepath.Join("testdata", gen, "proc"), SysRoot: filepath.Join("testdata", gen, "sys")}
	var cg Cgroup
	if gen == "v1" {
		cg.V1 = map[string]string{"blkio": filepath.Join("testdata", gen, variant, "blkio")}
	} else {
		cg.V2 = filepath.Join("testdata", gen, variant)
	}
	return NewContainer(host, cg, time.Time{}, DefaultOptions())
}

// renderFile renders the virtual file called name for c.
func renderFile(t *testing.T, c *Container, name string) []byte {
	t.Helper()
	f, ok := Lookup(name)
	if !ok {
		t.Fatalf("no virtual file %q", name)
	}
	var buf bytes.Buffer
	if err := c.Render(f, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDiskstatsGolden(t *testing.T) {
	for _, gen := range []string{"v1", "v2"} {
		for _, variant := range []string{"limited", "nolimit"} {
			t.Run(gen+" "+variant, func(t *testing.T) {
				c := ioFixtureContainer(gen, variant)
				got := renderFile(t, c, "diskstats")
				matchGoldenFile(t, "diskstats/"+gen+"-"+variant, got)
				host, err := os.ReadFile(c.Host.proc("diskstats"))
				if err != nil {
					t.Fatal(err)
				}
				checkDiskstatsInvariants(t, got, host)
			})
		}
	}
}

// checkDiskstatsInvariants checks that every line of got names a host
// device, in host order, with the host line's field count and its device
// number padding, and that got ends with a newline.
func checkDiskstatsInvariants(t *testing.T, got, host []byte) {
	t.Helper()
	if len(got) > 0 && got[len(got)-1] != '\n' {
		t.Errorf("output does not end with a newline: %q", got)
	}
	hostLines := strings.Split(strings.TrimSuffix(string(host), "\n"), "\n")
	next := 0
	for _, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		found := false
		for ; next < len(hostLines); next++ {
			hf := strings.Fields(hostLines[next])
			if len(hf) > 2 && hf[2] == f[2] {
				found = true
				if len(f) != len(hf) {
					t.Errorf("%s: %d fields, the host has %d", f[2], len(f), len(hf))
				}
				if prefix := hostLines[next][:strings.Index(hostLines[next], hf[2])]; !strings.HasPrefix(line, prefix) {
					t.Errorf("%s: line %q does not start like the host's %q", f[2], line, prefix)
				}
				break
			}
		}
		if !found {
			t.Errorf("line %q: no such device in the host's file, or out of order", line)
		}
	}
}

func TestDiskstatsMissingCgroupShowsHost(t *testing.T) {
	host, err := os.ReadFile("testdata/v1/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cg   Cgroup
	}{
		{name: "no cgroup bound", cg: Cgroup{}},
		{name: "v1 blkio cgroup removed", cg: Cgroup{V1: map[string]string{"blkio": "testdata/v1/gone/blkio"}}},
		{name: "v1 blkio removed, v2 without io.stat", cg: Cgroup{V1: map[string]string{"blkio": "testdata/v1/gone/blkio"}, V2: "testdata/v2/gone"}},
		{name: "v2 io controller not enabled", cg: Cgroup{V2: t.TempDir()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContainer(Host{ProcRoot: "testdata/v1/proc"}, tt.cg, time.Time{}, DefaultOptions())
			if got := renderFile(t, c, "diskstats"); !bytes.Equal(got, host) {
				t.Fatalf("got\n%s\nwant the host's file\n%s", got, host)
			}
		})
	}
}

func TestDiskstatsKeepsHostFieldCount(t *testing.T) {
	// One disk, every DeviceIO field set, on hosts of three kernel eras.
	d := DeviceIO{
		Major: 8, Minor: 0,
		ReadIOs: 1, ReadMerged: 2, ReadBytes: 3 * 512, ReadTicks: 4,
		WriteIOs: 5, WriteMerged: 6, WriteBytes: 7 * 512, WriteTicks: 8,
		IOTicks:    10,
		DiscardIOs: 12, DiscardMerged: 13, DiscardBytes: 14 * 512, DiscardTicks: 15,
	}
	tests := []struct {
		name, host, want string
	}{
		{
			name: "Linux 5.5+: 17 fields with flushes",
			host: "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 1 2 3 4 5 6 7 8 0 10 27 12 13 14 15 0 0\n",
		},
		{
			name: "Linux 4.18 to 5.4: 15 fields with discards",
			host: "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 1 2 3 4 5 6 7 8 0 10 27 12 13 14 15\n",
		},
		{
			name: "before Linux 4.18: 11 fields",
			host: "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 1 2 3 4 5 6 7 8 0 10 27\n",
		},
		{
			name: "a future kernel's extra fields are 0",
			host: "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9\n",
			want: "   8       0 sda 1 2 3 4 5 6 7 8 0 10 27 12 13 14 15 0 0 0 0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Diskstats(nil, []byte(tt.host), []DeviceIO{d})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDiskstatsDevicePadding(t *testing.T) {
	host := "259       0 nvme0n1 0 0 0 0 0 0 0 0 0 0 0\n1234 1234567 big 0 0 0 0 0 0 0 0 0 0 0\n"
	devs := []DeviceIO{{Major: 259, Minor: 0, ReadIOs: 1}, {Major: 1234, Minor: 1234567, WriteIOs: 1}}
	got, err := Diskstats(nil, []byte(host), devs)
	if err != nil {
		t.Fatal(err)
	}
	want := " 259       0 nvme0n1 1 0 0 0 0 0 0 0 0 0 0\n1234 1234567 big 0 0 0 0 1 0 0 0 0 0 0\n"
	if string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestDiskstatsOnlyDevicesWithIO(t *testing.T) {
	host := "   8       0 sda 9 9 9 9 9 9 9 9 9 9 9\n" +
		"   8       1 sda1 9 9 9 9 9 9 9 9 9 9 9\n" +
		"   8      16 sdb 9 9 9 9 9 9 9 9 9 9 9\n" +
		"   7       0 loop0 9 9 9 9 9 9 9 9 9 9 9\n"
	devs := []DeviceIO{
		{Major: 8, Minor: 16, WriteBytes: 4096, WriteIOs: 1}, // I/O: shown
		{Major: 7, Minor: 0},               // listed, no I/O: hidden
		{Major: 253, Minor: 0, ReadIOs: 5}, // not in the host's file: hidden
	}
	got, err := Diskstats(nil, []byte(host), devs)
	if err != nil {
		t.Fatal(err)
	}
	// sda and its partition sda1 have no I/O in the cgroup.
	want := "   8      16 sdb 0 0 0 0 1 0 8 0 0 0 0\n"
	if string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestDiskstatsTicksWrapLikeUnsignedInt(t *testing.T) {
	host := "   8       0 sda 0 0 0 0 0 0 0 0 0 0 0\n"
	devs := []DeviceIO{{Major: 8, Minor: 0, ReadIOs: 1, ReadTicks: 1<<32 + 5}}
	got, err := Diskstats(nil, []byte(host), devs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "   8       0 sda 1 0 0 5 0 0 0 0 0 0 5\n"; string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestDiskstatsMalformedHost(t *testing.T) {
	for _, host := range []string{"   8       0\n", "sda 8 0 1 2 3\n", "   8  x sda 1 2 3\n"} {
		if got, err := Diskstats(nil, []byte(host), []DeviceIO{{Major: 8, ReadIOs: 1}}); err == nil {
			t.Errorf("Diskstats(%q) = %q, want an error", host, got)
		}
	}
}

func BenchmarkDiskstats(b *testing.B) {
	host, err := os.ReadFile("testdata/v1/proc/diskstats")
	if err != nil {
		b.Fatal(err)
	}
	devs := []DeviceIO{
		{Major: 7, Minor: 0, ReadIOs: 16, ReadBytes: 8 << 20, WriteIOs: 40, WriteBytes: 20 << 20},
		{Major: 254, Minor: 0, ReadIOs: 31818, ReadBytes: 715609088, WriteIOs: 5915, WriteBytes: 699277312},
	}
	b.Run("format", func(b *testing.B) {
		b.ReportAllocs()
		dst := make([]byte, 0, 4096)
		for b.Loop() {
			if _, err := Diskstats(dst, host, devs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("render v1", func(b *testing.B) {
		b.ReportAllocs()
		c := ioFixtureContainer("v1", "limited")
		f, _ := Lookup("diskstats")
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := c.Render(f, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
