package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pressureResources maps each pressure file's short name to its resource.
var pressureResources = map[string]string{
	"pressure_cpu":    "cpu",
	"pressure_memory": "memory",
	"pressure_io":     "io",
}

func TestPressureCopiesCgroupFile(t *testing.T) {
	for _, variant := range []string{"limited", "nolimit"} {
		for name, res := range pressureResources {
			t.Run(variant+" "+res, func(t *testing.T) {
				c := ioFixtureContainer("v2", variant)
				want, err := os.ReadFile(filepath.Join(c.Cgroup.V2, res+".pressure"))
				if err != nil {
					t.Fatal(err)
				}
				f, _ := Lookup(name)
				if !f.Available(c) {
					t.Fatalf("%s not available", name)
				}
				if got := renderFile(t, c, name); !bytes.Equal(got, want) {
					t.Fatalf("got\n%s\nwant the cgroup's file\n%s", got, want)
				}
			})
		}
	}
}

func TestPressureAvailable(t *testing.T) {
	v2Proc := filepath.Join("testdata", "v2", "proc")
	v1Proc := filepath.Join("testdata", "v1", "proc") // captured without /proc/pressure
	limited := filepath.Join("testdata", "v2", "limited")
	tests := []struct {
		name string
		host string
		cg   Cgroup
		want bool
	}{
		{name: "v2 cgroup with pressure files", host: v2Proc, cg: Cgroup{V2: limited}, want: true},
		{name: "hybrid: v1 controllers plus unified dir", host: v2Proc, cg: Cgroup{V1: map[string]string{"cpu": "x"}, V2: limited}, want: true},
		{name: "v1 only: no unified dir", host: v2Proc, cg: Cgroup{V1: map[string]string{"cpu": "x"}}},
		{name: "unified dir without pressure files", host: v2Proc, cg: Cgroup{V2: t.TempDir()}},
		{name: "host without /proc/pressure", host: v1Proc, cg: Cgroup{V2: limited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContainer(Host{ProcRoot: tt.host}, tt.cg, time.Time{}, DefaultOptions())
			for name := range pressureResources {
				f, _ := Lookup(name)
				if got := f.Available(c); got != tt.want {
					t.Errorf("%s: Available = %v, want %v", name, got, tt.want)
				}
			}
		})
	}
}

func TestPressureCgroupGoneShowsHost(t *testing.T) {
	host := filepath.Join("testdata", "v2", "proc")
	for _, cg := range []Cgroup{{V2: filepath.Join("testdata", "v2", "gone")}, {}} {
		c := NewContainer(Host{ProcRoot: host}, cg, time.Time{}, DefaultOptions())
		for name, res := range pressureResources {
			want, err := os.ReadFile(filepath.Join(host, "pressure", res))
			if err != nil {
				t.Fatal(err)
			}
			if got := renderFile(t, c, name); !bytes.Equal(got, want) {
				t.Errorf("%s with %+v: got\n%s\nwant the host's\n%s", name, cg, got, want)
			}
		}
	}
}

// TestPressureLive renders the pressure files of the host's top cgroup2
// directory (read only) and checks the kernel format.
func TestPressureLive(t *testing.T) {
	root := cgroup2Root()
	if root == "" {
		t.Skip("no cgroup2 mount")
	}
	c := NewContainer(DefaultHost(), Cgroup{V2: root}, time.Time{}, DefaultOptions())
	for name := range pressureResources {
		f, _ := Lookup(name)
		if !f.Available(c) {
			t.Logf("%s: not available on this host", name)
			continue
		}
		got := string(renderFile(t, c, name))
		if !strings.HasPrefix(got, "some avg10=") || !strings.HasSuffix(got, "\n") {
			t.Errorf("%s: unexpected content %q", name, got)
		}
	}
}
