package sources

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	// -update rewrites the golden files. Registered here only when no
	// other test file of the package has registered it already (package
	// variables are initialised before any init runs).
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/golden")
	}
}

// memUpdating reports whether the test run was given -update.
func memUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// memGolden compares got with testdata/golden/<file>/<name>.golden, or
// rewrites that file under -update.
func memGolden(t *testing.T, file, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file, name+".golden")
	if memUpdating() {
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
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// Memory fixtures, real captures: a v1 host (kernel 6.18, 2 CPUs) and a
// v2 VM (Debian 6.1); "limited" cgroups have a 256 MiB limit, "nolimit"
// ones none.
const (
	memV1Limited = "testdata/v1/limited/memory"
	memV1NoLimit = "testdata/v1/nolimit/memory"
	memV2Limited = "testdata/v2/limited"
	memV2NoLimit = "testdata/v2/nolimit"
	memV1Proc    = "testdata/v1/proc" // no swap, 24731708 kB RAM
	memV2Proc    = "testdata/v2/proc" // 65532 kB swap, 995868 kB RAM
)

// memV1 returns a Cgroup whose v1 memory controller is dir.
func memV1(dir string) Cgroup { return Cgroup{V1: map[string]string{"memory": dir}} }

// memV2 returns a Cgroup whose unified directory is dir.
func memV2(dir string) Cgroup { return Cgroup{V2: dir} }

// memCopy copies the memory files of the fixture directory src into a new
// temporary directory and returns it, for a test to change.
func memCopy(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "memory.") || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		memWrite(t, filepath.Join(dst, e.Name()), string(b))
	}
	return dst
}

// memWrite writes a file or fails the test.
func memWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// memRemove removes files of dir or fails the test.
func memRemove(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
}

// memEditStat replaces (value != "") or deletes the line of key in the
// memory.stat of dir.
func memEditStat(t *testing.T, dir, key, value string) {
	t.Helper()
	path := filepath.Join(dir, "memory.stat")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	found := false
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, key+" ") {
			found = true
			if value == "" {
				continue
			}
			line = key + " " + value + "\n"
		}
		out = append(out, line)
	}
	if !found {
		t.Fatalf("%s has no %s", path, key)
	}
	memWrite(t, path, strings.Join(out, ""))
}

func TestReadMemoryFixtures(t *testing.T) {
	unknown := MemBytes{}
	tests := []struct {
		name string
		cg   Cgroup
		want Memory // Stat checked separately
	}{
		{"v1 limited: 256 MiB, memsw unlimited", memV1(memV1Limited), Memory{
			Version: 1, Limit: memKnown(268435456), Usage: memKnown(60219392),
			SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(0),
		}},
		{"v1 no limit: PAGE_COUNTER_MAX is unlimited", memV1(memV1NoLimit), Memory{
			Version: 1, Limit: memKnown(MemUnlimited), Usage: memKnown(516096),
			SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(0),
		}},
		{"v2 limited: 256 MiB, swap.max 0", memV2(memV2Limited), Memory{
			Version: 2, Limit: memKnown(268435456), Usage: memKnown(68206592),
			SwapLimit: memKnown(0), SwapUsage: memKnown(0),
		}},
		{"v2 no limit: max", memV2(memV2NoLimit), Memory{
			Version: 2, Limit: memKnown(MemUnlimited), Usage: memKnown(94208),
			SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(0),
		}},
		{"v1 directory gone", memV1(filepath.Join(t.TempDir(), "gone")), Memory{
			Version: 1, Limit: unknown, Usage: unknown,
		}},
		{"v2 directory gone", memV2(filepath.Join(t.TempDir(), "gone")), Memory{
			Version: 2, Limit: unknown, Usage: unknown,
		}},
		{"no memory cgroup", Cgroup{V1: map[string]string{"cpu": memV1Limited}}, Memory{}},
		{"v1 preferred over v2 on hybrid hosts", Cgroup{V1: map[string]string{"memory": memV1Limited}, V2: memV2NoLimit}, Memory{
			Version: 1, Limit: memKnown(268435456), Usage: memKnown(60219392),
			SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ReadMemory(tt.cg)
			if err != nil {
				t.Fatalf("ReadMemory: %v", err)
			}
			m.Stat = MemoryStat{}
			if m != tt.want {
				t.Errorf("got  %+v\nwant %+v", m, tt.want)
			}
		})
	}
}

func TestReadMemoryStatFixtures(t *testing.T) {
	m1, err := ReadMemory(memV1(memV1Limited))
	if err != nil {
		t.Fatal(err)
	}
	// Hierarchical total_* values, not the local ones (equal in this
	// fixture: no child cgroups; the 1…N test tells them apart).
	want1 := MemoryStat{
		Anon: memKnown(59580416), AnonTHP: memKnown(0), File: memKnown(131072), Shmem: memKnown(0),
		FileMapped: memKnown(0), FileDirty: memKnown(0), FileWriteback: memKnown(0),
		SwapCached: memKnown(0), ActiveAnon: memKnown(8192), InactiveAnon: memKnown(59572224),
		ActiveFile: memKnown(0), InactiveFile: memKnown(131072), Unevictable: memKnown(0),
		HierarchicalLimit: memKnown(268435456), HierarchicalMemswLimit: memKnown(MemUnlimited),
	}
	if m1.Stat != want1 {
		t.Errorf("v1 stat:\ngot  %+v\nwant %+v", m1.Stat, want1)
	}
	m2, err := ReadMemory(memV2(memV2Limited))
	if err != nil {
		t.Fatal(err)
	}
	want2 := MemoryStat{
		Anon: memKnown(50470912), AnonTHP: memKnown(48234496), ShmemTHP: memKnown(0), FileTHP: memKnown(0), File: memKnown(16785408), Shmem: memKnown(16785408),
		FileMapped: memKnown(0), FileDirty: memKnown(0), FileWriteback: memKnown(0),
		SwapCached: memKnown(0), ActiveAnon: memKnown(12288), InactiveAnon: memKnown(67244032),
		ActiveFile: memKnown(0), InactiveFile: memKnown(0), Unevictable: memKnown(0),
		Slab: memKnown(83648), SlabReclaimable: memKnown(42488), SlabUnreclaimable: memKnown(41160),
	}
	if m2.Stat != want2 {
		t.Errorf("v2 stat:\ngot  %+v\nwant %+v", m2.Stat, want2)
	}
}

func TestReadMemoryEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		v2      bool
		edit    func(t *testing.T, dir string)
		check   func(t *testing.T, m Memory)
		wantErr string // substring; "" for none
	}{
		{
			name: "v1 without memsw files: swap accounting off",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memRemove(t, dir, v1MemswLimit, v1MemswUsage)
				memEditStat(t, dir, "hierarchical_memsw_limit", "")
			},
			check: func(t *testing.T, m Memory) {
				if !m.NoSwapAccounting || m.SwapLimit.Known || m.SwapUsage.Known {
					t.Errorf("got %+v, want NoSwapAccounting and unknown swap", m)
				}
			},
		},
		{
			name: "v1 memsw limit minus RAM limit is the swap limit",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemswLimit), "301989888\n") // 288 MiB
				memEditStat(t, dir, "hierarchical_memsw_limit", "301989888")
				memWrite(t, filepath.Join(dir, v1MemswUsage), "64413696\n") // usage + 4 MiB
			},
			check: func(t *testing.T, m Memory) {
				if m.SwapLimit != memKnown(32<<20) || m.SwapUsage != memKnown(4<<20) {
					t.Errorf("swap limit %+v usage %+v, want 32 MiB, 4 MiB", m.SwapLimit, m.SwapUsage)
				}
			},
		},
		{
			name: "v1 memsw usage below usage clamps at 0",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemswUsage), "60000000\n")
			},
			check: func(t *testing.T, m Memory) {
				if m.SwapUsage != memKnown(0) {
					t.Errorf("swap usage %+v, want 0", m.SwapUsage)
				}
			},
		},
		{
			name: "v1 hierarchical limit below the cgroup's own",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemLimit), "9223372036854771712\n")
				memEditStat(t, dir, "hierarchical_memory_limit", "134217728")
			},
			check: func(t *testing.T, m Memory) {
				if m.Limit != memKnown(128<<20) {
					t.Errorf("limit %+v, want 128 MiB", m.Limit)
				}
			},
		},
		{
			name: "v1 unlimited RAM with limited memsw: memsw bounds swap",
			src:  memV1NoLimit,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemswLimit), "1073741824\n")
				memEditStat(t, dir, "hierarchical_memsw_limit", "1073741824")
			},
			check: func(t *testing.T, m Memory) {
				if m.SwapLimit != memKnown(1<<30) {
					t.Errorf("swap limit %+v, want 1 GiB", m.SwapLimit)
				}
			},
		},
		{
			name: "v1 64 KiB-page unset limit is unlimited",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemLimit), "9223372036854710272\n")
				memEditStat(t, dir, "hierarchical_memory_limit", "9223372036854710272")
			},
			check: func(t *testing.T, m Memory) {
				if m.Limit != memKnown(MemUnlimited) {
					t.Errorf("limit %+v, want unlimited", m.Limit)
				}
			},
		},
		{
			name: "v1 missing memory.stat: counters unknown, limits kept",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) { memRemove(t, dir, memStatFile) },
			check: func(t *testing.T, m Memory) {
				if m.Stat != (MemoryStat{}) || m.Limit != memKnown(256<<20) || !m.Usage.Known {
					t.Errorf("got %+v", m)
				}
			},
		},
		{
			name: "v1 garbage limit: unknown and reported",
			src:  memV1Limited,
			edit: func(t *testing.T, dir string) {
				memWrite(t, filepath.Join(dir, v1MemLimit), "lots\n")
				memEditStat(t, dir, "hierarchical_memory_limit", "")
			},
			check: func(t *testing.T, m Memory) {
				if m.Limit.Known || !m.Usage.Known {
					t.Errorf("got %+v, want unknown limit, known usage", m)
				}
			},
			wantErr: `bad number "lots"`,
		},
		{
			name: "v2 without memory.swap files: swap accounting off",
			src:  memV2Limited,
			v2:   true,
			edit: func(t *testing.T, dir string) { memRemove(t, dir, v2MemSwapMax, v2MemSwapCurrent) },
			check: func(t *testing.T, m Memory) {
				if !m.NoSwapAccounting || m.SwapLimit.Known {
					t.Errorf("got %+v, want NoSwapAccounting", m)
				}
			},
		},
		{
			name: "v2 a directory where memory.current should be: EISDIR is reported",
			src:  memV2Limited,
			v2:   true,
			edit: func(t *testing.T, dir string) {
				memRemove(t, dir, v2MemCurrent)
				if err := os.Mkdir(filepath.Join(dir, v2MemCurrent), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, m Memory) {
				if m.Usage.Known || !m.Limit.Known || m.NoSwapAccounting {
					t.Errorf("got %+v", m)
				}
			},
			wantErr: "is a directory",
		},
		{
			name: "v2 malformed memory.stat line: others still parsed",
			src:  memV2Limited,
			v2:   true,
			edit: func(t *testing.T, dir string) { memEditStat(t, dir, "file", "12x") },
			check: func(t *testing.T, m Memory) {
				if m.Stat.File.Known || m.Stat.Anon != memKnown(50470912) || m.Stat.Slab != memKnown(83648) {
					t.Errorf("got %+v", m.Stat)
				}
			},
			wantErr: `line 2 "file 12x"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := memCopy(t, tt.src)
			tt.edit(t, dir)
			cg := memV1(dir)
			if tt.v2 {
				cg = memV2(dir)
			}
			m, err := ReadMemory(cg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("no error, want one with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), dir):
				t.Errorf("error %q does not name the file", err)
			}
			tt.check(t, m)
		})
	}
}

func TestReadMemoryV2AncestorLimits(t *testing.T) {
	tests := []struct {
		name                string
		parentMax, rootMax  string // "" for no file
		wantLimit, wantSwap uint64
	}{
		{"parent limit below the container's", "134217728\n", "", 128 << 20, 0},
		{"parent limit above the container's", "1073741824\n", "", 256 << 20, 0},
		{"parent max", "max\n", "", 256 << 20, 0},
		{"grandparent limit, parent max", "max\n", "67108864\n", 64 << 20, 0},
		{"walk stops at an ancestor without the file", "", "67108864\n", 256 << 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			parent := filepath.Join(root, "parent")
			if err := os.Mkdir(parent, 0o755); err != nil {
				t.Fatal(err)
			}
			leaf := filepath.Join(parent, "leaf")
			if err := os.Rename(memCopy(t, memV2Limited), leaf); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ dir, v string }{{parent, tt.parentMax}, {root, tt.rootMax}} {
				if f.v != "" {
					memWrite(t, filepath.Join(f.dir, v2MemMax), f.v)
					memWrite(t, filepath.Join(f.dir, v2MemSwapMax), "max\n")
				}
			}
			m, err := ReadMemory(memV2(leaf))
			if err != nil {
				t.Fatal(err)
			}
			if m.Limit != memKnown(tt.wantLimit) || m.SwapLimit != memKnown(tt.wantSwap) {
				t.Errorf("limit %+v swap %+v, want %d, %d", m.Limit, m.SwapLimit, tt.wantLimit, tt.wantSwap)
			}
		})
	}
}

func TestParseMemLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"max\n", MemUnlimited, false},
		{"268435456\n", 268435456, false},
		{"0\n", 0, false},
		{"9223372036854771712\n", MemUnlimited, false},        // v1 unset, 4 KiB pages
		{"9223372036854710272\n", MemUnlimited, false},        // v1 unset, 64 KiB pages
		{"9223372036853727231\n", 9223372036853727231, false}, // just below the threshold
		{"18446744073709551616\n", 0, true},                   // overflows uint64
		{"-1\n", 0, true},
		{"\n", 0, true},
		{"12 34\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := parseMemLimit([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseMemoryStatV1TotalsNotLocal(t *testing.T) {
	// Local and total_* values differ when the container has children.
	s, err := ParseMemoryStatV1([]byte("rss 1\ncache 2\ntotal_rss 10\ntotal_cache 20\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Anon != memKnown(10) || s.File != memKnown(20) {
		t.Errorf("got %+v, want the total_* values", s)
	}
}

func TestParseMemoryStatMalformed(t *testing.T) {
	for _, in := range []string{"anon\n", "anon x\n", "anon 99999999999999999999\n"} {
		s, err := ParseMemoryStatV2([]byte(in + "file 4096\n"))
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: error %v, want one naming line 1", in, err)
		}
		if s.Anon.Known || s.File != memKnown(4096) {
			t.Errorf("%q: got %+v", in, s)
		}
	}
	if _, err := ParseMemoryStatV2([]byte("anon 1\n\n")); err != nil {
		t.Errorf("empty line: %v", err)
	}
}

// TestMemoryLiveV1 runs the reader and renderer on a real cgroup v1 memory
// controller: it creates a child of the hierarchy root, limits it, and
// removes it again. It needs root and a v1 memory hierarchy.
func TestMemoryLiveV1(t *testing.T) {
	const root = "/sys/fs/cgroup/memory"
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(filepath.Join(root, v1MemLimit)); err != nil {
		t.Skip("no cgroup v1 memory hierarchy")
	}
	dir := filepath.Join(root, fmt.Sprintf("lxmount-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a memory cgroup: %v", err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			if err := syscall.Rmdir(dir); err != nil {
				t.Errorf("remove %s: %v", dir, err)
			}
		}
	})
	memWrite(t, filepath.Join(dir, v1MemLimit), "67108864")
	// Charge a little page cache to it: a short-lived child writing a file.
	tmp := filepath.Join(t.TempDir(), "f")
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && head -c 1048576 /dev/zero > "$2"`, "sh", dir, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("charge: %v: %s", err, out)
	}

	m, err := ReadMemory(memV1(dir))
	if err != nil {
		t.Fatalf("ReadMemory: %v", err)
	}
	if m.Limit != memKnown(64<<20) || !m.Usage.Known || !m.Stat.File.Known || !m.Stat.InactiveFile.Known {
		t.Fatalf("got %+v", m)
	}
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	out := Meminfo(nil, host, m, SwapCgroup)
	checkMeminfoShape(t, host, out, SwapCgroup)
	if v := meminfoValue(t, out, "MemTotal"); v != 65536 {
		t.Errorf("MemTotal %d kB, want 65536", v)
	}

	if err := syscall.Rmdir(dir); err != nil {
		t.Fatalf("remove %s: %v", dir, err)
	}
	removed = true
	m, err = ReadMemory(memV1(dir))
	if err != nil || m.Limit.Known || m.Usage.Known || m.Stat != (MemoryStat{}) {
		t.Errorf("after rmdir: %+v, %v; want nothing known, no error", m, err)
	}
	if out := Meminfo(nil, host, m, SwapCgroup); !bytes.Equal(out, host) {
		t.Errorf("after rmdir the output is not the host's:\n%s", out)
	}
}

// TestMemoryLiveV2 is TestMemoryLiveV1 on a cgroup v2 memory controller: a
// child of the cgroup2 root with memory.max set. It needs root and a cgroup2
// root that enables the memory controller for its children, which a pure v2
// host has (`make test-v2` runs it in such a VM, with LXMOUNT_CGROUP=v2,
// where it must not skip); the hybrid v1 dev host has not.
func TestMemoryLiveV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	root := cgroup2Root()
	enabled, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control"))
	if root == "" || !slices.Contains(strings.Fields(string(enabled)), "memory") {
		if os.Getenv("LXMOUNT_CGROUP") == "v2" {
			t.Fatalf("LXMOUNT_CGROUP=v2, but no cgroup2 root enabling the memory controller (root %q)", root)
		}
		t.Skip("no cgroup2 root that enables the memory controller")
	}
	dir := makeTaskTestCgroup(t, root)
	memWrite(t, filepath.Join(dir, v2MemMax), "67108864")
	tmp := filepath.Join(t.TempDir(), "f")
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && head -c 1048576 /dev/zero > "$2"`, "sh", dir, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("charge: %v: %s", err, out)
	}

	m, err := ReadMemory(memV2(dir))
	if err != nil {
		t.Fatalf("ReadMemory: %v", err)
	}
	if m.Version != 2 || m.Limit != memKnown(64<<20) || !m.Usage.Known || m.Usage.Bytes < 1<<20 ||
		!m.Stat.File.Known || m.Stat.File.Bytes < 1<<20 {
		t.Fatalf("got %+v, want v2, 64 MiB limit, at least the 1 MiB file charged", m)
	}
	host, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	out := Meminfo(nil, host, m, SwapCgroup)
	checkMeminfoShape(t, host, out, SwapCgroup)
	if v := meminfoValue(t, out, "MemTotal"); v != 65536 {
		t.Errorf("MemTotal %d kB, want 65536", v)
	}

	// The child has exited, but the kernel may count it for a moment.
	for i := 0; ; i++ {
		err := syscall.Rmdir(dir)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EBUSY) || i == 50 {
			t.Fatalf("remove %s: %v", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m, err = ReadMemory(memV2(dir))
	if err != nil || m.Limit.Known || m.Usage.Known || m.Stat != (MemoryStat{}) {
		t.Errorf("after rmdir: %+v, %v; want nothing known, no error", m, err)
	}
	if out := Meminfo(nil, host, m, SwapCgroup); !bytes.Equal(out, host) {
		t.Errorf("after rmdir the output is not the host's:\n%s", out)
	}
}

func TestMemReadFileErrors(t *testing.T) {
	_, err := memReadFile(filepath.Join(t.TempDir(), "none"), nil)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an open *os.PathError for ENOENT", err)
	}
	_, err = memReadFile(t.TempDir(), nil)
	if !errors.As(err, &pe) || pe.Op != "read" || !errors.Is(err, syscall.EISDIR) {
		t.Errorf("got %v, want a read *os.PathError for EISDIR", err)
	}
	// Files larger than the buffer grow it.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := memReadFile(path, make([]byte, 0, 7))
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("big file: %d bytes, %v", len(got), err)
	}
}
