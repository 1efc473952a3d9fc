package sources

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuinfoX86 builds an x86 /proc/cpuinfo with the field layout of
// arch/x86/kernel/cpu/proc.c for CPUs given as {physical id, core id,
// apicid}; siblings and cpu cores are the host's per-package counts.
func cpuinfoX86(cpus [][3]int, siblings, cores int) []byte {
	var b bytes.Buffer
	for i, c := range cpus {
		fmt.Fprintf(&b, "processor\t: %d\nvendor_id\t: GenuineIntel\nphysical id\t: %d\nsiblings\t: %d\n"+
			"core id\t\t: %d\ncpu cores\t: %d\napicid\t\t: %d\ninitial apicid\t: %d\nflags\t\t: fpu\n\n",
			i, c[0], siblings, c[1], cores, c[2], c[2])
	}
	return b.Bytes()
}

// cpuinfoTopology extracts, per block, the rewritten fields.
func cpuinfoTopology(b []byte) []map[string]int {
	var out []map[string]int
	for line := range bytes.Lines(b) {
		key, val, ok := cpuinfoField(line)
		if !ok {
			continue
		}
		if string(key) == "processor" {
			out = append(out, map[string]int{})
		}
		switch k := string(key); k {
		case "processor", "physical id", "siblings", "core id", "cpu cores", "apicid", "initial apicid":
			n, _ := strconv.Atoi(string(val))
			out[len(out)-1][k] = n
		}
	}
	return out
}

func TestCpuinfoTopology(t *testing.T) {
	// Two packages of two cores with two threads each, numbered the way
	// Linux enumerates them: first threads of all cores, then the siblings.
	smt := cpuinfoX86([][3]int{
		{0, 0, 0}, {0, 1, 2}, {1, 0, 4}, {1, 1, 6},
		{0, 0, 1}, {0, 1, 3}, {1, 0, 5}, {1, 1, 7},
	}, 4, 2)
	type topo struct{ pkg, siblings, core, cores, apicid int }
	tests := []struct {
		name    string
		host    []byte
		visible []int
		want    []topo
	}{
		{"one package, no hyperthreads: apicid is the processor", smt, []int{0, 1}, []topo{{0, 2, 0, 2, 0}, {0, 2, 1, 2, 1}}},
		{"two hyperthreads of one core stay siblings", smt, []int{0, 4}, []topo{{0, 2, 0, 1, 0}, {0, 2, 0, 1, 1}}},
		{"one CPU in each package", smt, []int{0, 2}, []topo{{0, 1, 0, 1, 0}, {1, 1, 0, 1, 1}}},
		{"mixed: widths from the largest package and core", smt, []int{0, 1, 2, 4, 5}, []topo{
			{0, 4, 0, 2, 0}, {0, 4, 1, 2, 2}, {1, 1, 0, 1, 4}, {0, 4, 0, 2, 1}, {0, 4, 1, 2, 3},
		}},
		{"second package alone becomes package 0", smt, []int{3}, []topo{{0, 1, 0, 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cpuinfoTopology(Cpuinfo(tt.host, tt.visible))
			if len(got) != len(tt.want) {
				t.Fatalf("%d blocks, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				want := map[string]int{"processor": i, "physical id": w.pkg, "siblings": w.siblings,
					"core id": w.core, "cpu cores": w.cores, "apicid": w.apicid, "initial apicid": w.apicid}
				for k, v := range want {
					if g[k] != v {
						t.Errorf("block %d: %s = %d, want %d", i, k, g[k], v)
					}
				}
			}
		})
	}
}

// TestCpuinfoKeepsHostBytes checks that only the values of the topology
// fields change: every other byte, tabs included, is the host's.
func TestCpuinfoKeepsHostBytes(t *testing.T) {
	host, err := os.ReadFile("testdata/v2/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	_, blocks, _ := parseCpuinfo(host)
	got := Cpuinfo(host, []int{3})
	want := strings.NewReplacer(
		"processor\t: 3", "processor\t: 0",
		"siblings\t: 4", "siblings\t: 1",
		"core id\t\t: 3", "core id\t\t: 0",
		"cpu cores\t: 4", "cpu cores\t: 1",
		"apicid\t\t: 3", "apicid\t\t: 0",
		"initial apicid\t: 3", "initial apicid\t: 0",
	).Replace(string(blocks[3].text))
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCpuinfoLayouts(t *testing.T) {
	arm64 := "processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\nBogoMIPS\t: 51.00\n\n"
	arm32 := "processor\t: 0\nBogoMIPS\t: 38.40\n\nprocessor\t: 1\nBogoMIPS\t: 38.40\n\nHardware\t: BCM2835\nRevision\t: a02082\n"
	s390x := "vendor_id       : IBM/S390\n# processors    : 2\nprocessor 0: version = FF\nprocessor 1: version = FF\n"
	tests := []struct {
		name    string
		host    string
		visible []int
		want    string
	}{
		{"arm64 blocks without topology fields: processor renumbered", arm64, []int{1},
			"processor\t: 0\nBogoMIPS\t: 51.00\n\n"},
		{"arm32 trailer after the last block is kept", arm32, []int{1},
			"processor\t: 0\nBogoMIPS\t: 38.40\n\nHardware\t: BCM2835\nRevision\t: a02082\n"},
		{"last block without a blank line", "processor\t: 0\nx\t: 1\nprocessor\t: 1\nx\t: 2\n", []int{1},
			"processor\t: 0\nx\t: 2\n"},
		{"no processor blocks (s390x): host file unchanged", s390x, []int{0}, s390x},
		{"no visible CPU has a block: host file unchanged", arm64, []int{7}, arm64},
		{"empty host file", "", []int{0}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Cpuinfo([]byte(tt.host), tt.visible)); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestCpuinfoProcessorNumbers(t *testing.T) {
	host, err := os.ReadFile("testdata/v2/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, visible := range [][]int{{0}, {0, 2}, {0, 2, 3}, {0, 1, 2, 3}, {1, 3}} {
		got := cpuinfoProcessors(Cpuinfo(host, visible))
		want := make([]int, len(visible))
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("visible %v: processors %v, want %v", visible, got, want)
		}
	}
}

func TestCpuinfoBitsFor(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 8: 3, 9: 4} {
		if got := bitsFor(n); got != want {
			t.Errorf("bitsFor(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestHostCpuinfoReuse: the host text is read again when it is older than
// hostCpuinfoMaxAge or the CPU view changed, and reused otherwise.
func TestHostCpuinfoReuse(t *testing.T) {
	var h hostCpuinfo
	reads := 0
	read := func() ([]byte, error) { reads++; return []byte(fmt.Sprintf("read %d", reads)), nil }
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		visible []int
		want    string
	}{
		{0, []int{0, 1}, "read 1"},
		{hostCpuinfoMaxAge / 2, []int{0, 1}, "read 1"},
		{hostCpuinfoMaxAge / 2, []int{1}, "read 2"},                   // cpuset changed
		{hostCpuinfoMaxAge/2 + hostCpuinfoMaxAge, []int{1}, "read 3"}, // too old
		{0, []int{1}, "read 4"},                                       // clock went back
	}
	for i, s := range steps {
		got, err := h.get(t0.Add(s.at), s.visible, read)
		if err != nil || string(got) != s.want {
			t.Errorf("step %d: %q, %v; want %q", i, got, err, s.want)
		}
	}
	if _, err := h.get(t0.Add(2*hostCpuinfoMaxAge), []int{1}, func() ([]byte, error) { return nil, errors.New("gone") }); err == nil {
		t.Error("read error not returned")
	}
}
