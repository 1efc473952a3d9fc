package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// keptDescriptorScript keeps /proc/uptime and /proc/stat open, as procps
// top does, and reads them again from offset 0 every 100 ms; it prints the
// uptime and the total of the cpu line's ticks of each pass.
const keptDescriptorScript = `
import os, time
up = os.open("/proc/uptime", os.O_RDONLY)
st = os.open("/proc/stat", os.O_RDONLY)
for i in range(6):
    os.lseek(up, 0, 0)
    os.lseek(st, 0, 0)
    u = os.read(up, 65536).decode()
    s = os.read(st, 65536).decode()
    cpu = s.splitlines()[0].split()
    print(u.split()[0], sum(int(x) for x in cpu[1:]))
    time.sleep(0.1)
`

// TestPageCacheReaders: the files served from the page cache
// (vfs/pagecache.go) stay fresh and whole for readers that keep a
// descriptor open, that copy with sendfile(2) (busybox cat) while others
// read, and for many concurrent openers, inside a real container.
func TestPageCacheReaders(t *testing.T) {
	requireRoot(t)
	requireCgroup(t)
	requireCommands(t, "/usr/bin/python3", busyboxPath)
	cg := newCgroup(t, "pagecache", limit256MiB, 0, 0)
	p := startNamespaced(t, cg)
	in := newInstance(t, "", cg.Path)
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(p.PID))
	ref, err := p.Exec(t, "/bin/cat", "/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	refLines := strings.Split(strings.TrimSpace(ref), "\n")
	if memTotalKB(t, ref) != kb256MiB {
		t.Fatalf("not attached: %s", ref)
	}
	last := strings.Fields(refLines[len(refLines)-1])[0] // "DirectMap1G:" or so

	t.Run("kept descriptor sees new content", func(t *testing.T) {
		out, err := p.Exec(t, "/usr/bin/python3", "-c", keptDescriptorScript)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var ups []float64
		var ticks []int64
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var u float64
			var k int64
			if _, err := fmt.Sscan(line, &u, &k); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ups, ticks = append(ups, u), append(ticks, k)
		}
		if len(ups) != 6 {
			t.Fatalf("%d passes, want 6:\n%s", len(ups), out)
		}
		for i := 1; i < len(ups); i++ {
			// 100 ms apart: uptime (centiseconds) must have moved by
			// most of it; the ticks of a container at rest may not.
			if d := ups[i] - ups[i-1]; d < 0.05 || d > 1 {
				t.Errorf("pass %d: uptime moved %.2f s in 100 ms of sleep, want fresh content:\n%s", i, d, out)
			}
			if ticks[i] < ticks[i-1] {
				t.Errorf("pass %d: cpu ticks went back, %d -> %d", i, ticks[i-1], ticks[i])
			}
		}
	})

	t.Run("whole content for sendfile and read while a descriptor is kept", func(t *testing.T) {
		// busybox cat copies with sendfile(2), bounded by the file size;
		// sh's read builtin and wc read with read(2). A python process
		// keeps /proc/meminfo open meanwhile, like top.
		script := `python3 -c 'import os,time; f=os.open("/proc/meminfo", os.O_RDONLY); os.read(f, 65536); time.sleep(3)' &
k=$!; sleep 0.2
i=0; while [ $i -lt 100 ]; do
  ` + busyboxPath + ` cat /proc/meminfo | tail -n 1
  ` + busyboxPath + ` cat /proc/meminfo | wc -l
  i=$((i+1))
done
kill $k; wait $k 2>/dev/null; true`
		out, err := p.Exec(t, "/bin/sh", "-c", script)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 200 {
			t.Fatalf("%d output lines, want 200", len(lines))
		}
		for i := 0; i < len(lines); i += 2 {
			if f := strings.Fields(lines[i]); len(f) == 0 || f[0] != last {
				t.Errorf("cat %d: last line %q, want the %s line: content cut or padded", i/2, lines[i], last)
			}
			if strings.TrimSpace(lines[i+1]) != strconv.Itoa(len(refLines)) {
				t.Errorf("cat %d: %s lines, want %d", i/2, lines[i+1], len(refLines))
			}
		}
	})

	t.Run("concurrent openers", func(t *testing.T) {
		// Four busybox shells reading /proc/meminfo 200 times each at
		// the same moment, half with cat (sendfile), half with head
		// (read(2)); every read must end with the last line.
		script := `for j in 1 2 3 4; do (
  i=0; while [ $i -lt 200 ]; do
    if [ $((j % 2)) = 0 ]; then ` + busyboxPath + ` cat /proc/meminfo; else ` + busyboxPath + ` head -n 1000 /proc/meminfo; fi | ` + busyboxPath + ` tail -n 1
    i=$((i+1))
  done) & done; wait`
		out, err := p.Exec(t, "/bin/sh", "-c", script)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 800 {
			t.Fatalf("%d lines, want 800", len(lines))
		}
		bad := 0
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 0 || f[0] != last {
				bad++
				if bad < 5 {
					t.Errorf("a read ended with %q", l)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of 800 reads cut short", bad)
		}
	})
}
