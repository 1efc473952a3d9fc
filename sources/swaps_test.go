package sources

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// swapsGolden names the memCases whose /proc/swaps has a golden file; the
// others are covered by the consistency check alone.
var swapsGolden = map[string]bool{
	"v1-limited": true, "v1-memsw-limited": true, "v1-gone": true,
	"v2-limited": true, "v2-nolimit": true, "v2-swap-32m": true,
	"v2-swap-none": true, "v2-swap-host": true, "v2-gone": true,
}

func TestSwaps(t *testing.T) {
	for _, tc := range memCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := NewContainer(Host{ProcRoot: tc.proc}, tc.setup(t), time.Time{}, Options{Swap: tc.swap})
			var swaps, meminfo bytes.Buffer
			for _, r := range []struct {
				name string
				buf  *bytes.Buffer
			}{{"swaps", &swaps}, {"meminfo", &meminfo}} {
				f, _ := Lookup(r.name)
				if err := c.Render(f, r.buf); err != nil {
					t.Fatal(err)
				}
			}
			checkSwapsMatchMeminfo(t, memReadFixture(t, tc.proc, "swaps"), swaps.Bytes(), meminfo.Bytes())
			if swapsGolden[tc.name] {
				memGolden(t, "swaps", tc.name, swaps.Bytes())
			}
		})
	}
}

// checkSwapsMatchMeminfo checks that /proc/swaps shows the swap of the
// container's /proc/meminfo: the host's file when meminfo has the host's
// swap, the kernel's header alone when SwapTotal is 0, else one line.
func checkSwapsMatchMeminfo(t *testing.T, host, swaps, meminfo []byte) {
	t.Helper()
	total := meminfoValue(t, meminfo, "SwapTotal")
	used := total - meminfoValue(t, meminfo, "SwapFree")
	if bytes.Equal(swaps, host) {
		// The host's file: only right when the container has the host's
		// swap, or none while the host has none either.
		if strings.Count(string(host), "\n") > 1 && total == 0 {
			t.Errorf("host swaps shown, but meminfo has SwapTotal 0")
		}
		return
	}
	header, rest, _ := strings.Cut(string(swaps), "\n")
	if header+"\n" != swapsHeader {
		t.Errorf("header %q, want %q", header, swapsHeader)
	}
	if total == 0 {
		if rest != "" {
			t.Errorf("SwapTotal 0, but swaps has %q", rest)
		}
		return
	}
	if want := swapsLine(total, used); rest != want {
		t.Errorf("swap line %q, want %q", rest, want)
	}
}

// swapsLine is the line Swaps should print, built with fmt after the
// kernel's swap_show format.
func swapsLine(size, used uint64) string {
	tab := func(n uint64) string {
		if n < 10000000 {
			return "\t"
		}
		return ""
	}
	return fmt.Sprintf("%-40s%s\t%d\t%s%d\t%s%d\n", "none", "virtual", size, tab(size), used, tab(used), 0)
}

func TestSwapsColumns(t *testing.T) {
	hostSwaps := memReadFixture(t, memV2Proc, "swaps")
	m := Memory{Version: 2, Limit: memKnown(MemUnlimited), Usage: memKnown(0),
		SwapLimit: memKnown(MemUnlimited), SwapUsage: memKnown(12345678 * 1024)}
	tests := []struct {
		name      string
		swapTotal uint64
		want      string
	}{
		{"small sizes get a second tab", 65532, swapsHeader + swapsLine(65532, 65532)},
		{"sizes of 10000000 kB and up get one tab", 20000000, swapsHeader + swapsLine(20000000, 12345678)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meminfo := fmt.Sprintf("MemTotal: 1000 kB\nSwapTotal: %d kB\nSwapFree: %d kB\n", tt.swapTotal, tt.swapTotal)
			got := string(Swaps(nil, hostSwaps, []byte(meminfo), m, SwapCgroup))
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if line := strings.Split(got, "\n")[1]; strings.Index(line, "virtual") != 40 {
				t.Errorf("type column at %d, want 40 as in the kernel's lines", strings.Index(line, "virtual"))
			}
		})
	}
}

func TestSwapsKernelHeader(t *testing.T) {
	// The fixtures' kernels print the header Swaps uses.
	for _, proc := range []string{memV1Proc, memV2Proc} {
		host := memReadFixture(t, proc, "swaps")
		if !bytes.HasPrefix(host, []byte(swapsHeader)) {
			t.Errorf("%s/swaps starts %q, want %q", proc, strings.SplitAfter(string(host), "\n")[0], swapsHeader)
		}
	}
}

func TestRenderSwapsErrors(t *testing.T) {
	f, _ := Lookup("swaps")
	for _, missing := range []string{"swaps", "meminfo"} {
		proc := t.TempDir()
		for _, name := range []string{"swaps", "meminfo"} {
			if name != missing {
				memWrite(t, proc+"/"+name, string(memReadFixture(t, memV2Proc, name)))
			}
		}
		c := NewContainer(Host{ProcRoot: proc}, memV2(memV2Limited), time.Time{}, DefaultOptions())
		var buf bytes.Buffer
		if err := c.Render(f, &buf); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("host %s missing: got %v, want an error naming it", missing, err)
		}
	}
}
