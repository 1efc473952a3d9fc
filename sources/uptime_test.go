package sources

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestUptimeFormat(t *testing.T) {
	tests := []struct {
		name     string
		up, idle time.Duration
		want     string
	}{
		{"hundredths", 800*time.Second + 720*time.Millisecond, 1271*time.Second + 740*time.Millisecond, "800.72 1271.74\n"},
		{"truncated, not rounded, like fs/proc/uptime.c", 1999 * time.Millisecond, 9 * time.Millisecond, "1.99 0.00\n"},
		{"leading zero of the hundredths", 5*time.Second + 50*time.Millisecond, 0, "5.05 0.00\n"},
		{"negative (clock stepped back) prints 0", -time.Second, -time.Second, "0.00 0.00\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Uptime(tt.up, tt.idle)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUptimeFallbacks(t *testing.T) {
	hostUptime, err := os.ReadFile("testdata/v2/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	start := cpuNowV2.Add(-10 * time.Second)
	tests := []struct {
		name  string
		c     *Container
		want  string
		isErr bool
	}{
		{"start unknown: host file", NewContainer(cpuHost("v2"), Cgroup{V2: "testdata/v2/limited"}, time.Time{}, DefaultOptions()), string(hostUptime), false},
		{"no CPU list at all: host file", NewContainer(Host{ProcRoot: "testdata/v2/proc", SysRoot: "testdata/nowhere"}, Cgroup{}, start, DefaultOptions()), string(hostUptime), false},
		{"no host uptime and the host option: error", NewContainer(Host{ProcRoot: "testdata/nowhere"}, Cgroup{}, time.Time{}, DefaultOptions()), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := renderUptime(tt.c, cpuNowV2, &buf)
			if (err != nil) != tt.isErr {
				t.Fatalf("err = %v, want error %v", err, tt.isErr)
			}
			if buf.String() != tt.want {
				t.Errorf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

// TestUptimeIdleMatchesStat renders both files after a first read raised
// the idle floor and checks they still agree.
func TestUptimeIdleMatchesStat(t *testing.T) {
	c := NewContainer(cpuHost("v2"), Cgroup{V2: "testdata/v2/limited"}, cpuNowV2.Add(-10*time.Second), DefaultOptions())
	var buf bytes.Buffer
	if err := renderUptime(c, cpuNowV2, &buf); err != nil {
		t.Fatal(err)
	}
	earlier := cpuNowV2.Add(-5 * time.Second) // idle held at the floor
	got := cpuRenderAll(t, c, earlier)
	sum, _ := cpuStatLines(t, got["stat"])
	want := string(Uptime(earlier.Sub(c.InitStart), time.Duration(sum.Idle)*10*time.Millisecond))
	if string(got["uptime"]) != want || sum.Idle != 1646 {
		t.Errorf("uptime %q, stat idle %d: want %q and 1646", got["uptime"], sum.Idle, want)
	}
}

func TestResolveUptime(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		src   UptimeSource
		early bool
		age   time.Duration // at attach
		want  UptimeSource
	}{
		{"auto, hook", UptimeAuto, true, time.Hour, UptimeContainer}, // docker create, start an hour later
		{"auto, event watch at the init's exec", UptimeAuto, false, 30 * time.Millisecond, UptimeContainer},
		{"auto, attached running", UptimeAuto, false, time.Minute, UptimeHost},
		{"auto, at the bound", UptimeAuto, false, earlyAttach, UptimeHost},
		{"container, attached running", UptimeContainer, false, time.Hour, UptimeContainer},
		{"host, hook", UptimeHost, true, 0, UptimeHost},
	} {
		if got := ResolveUptime(tt.src, tt.early, start, start.Add(tt.age)); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	if got := ResolveUptime(UptimeAuto, false, time.Time{}, start); got != UptimeHost {
		t.Errorf("auto, start unknown: %s, want host", got)
	}
}
