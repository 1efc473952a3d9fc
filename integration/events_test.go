package integration

// Event-driven discovery: a daemon with events = true attaches a new
// container when its first process execs, with no reconcile loop and no
// hook.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lxmount/lxmount/supervisor/procevents"
)

// reconcileOnly is the lxmount.toml of a test that checks what attach
// and reconcile do by themselves: no reconcile loop and no event watch,
// which would attach the test's containers as they start (or re-attach
// a detached one at its next exec).
const reconcileOnly = "reconcile_interval = \"0s\"\nevents = false\n"

// meminfoLoopScript is the entrypoint of TestEventsAttachRunc: from its
// first instruction it prints MemTotal (the first line of /proc/meminfo,
// with the shell's own read: no exec per line) every 10 ms, 150 times.
const meminfoLoopScript = `i=0
while [ $i -lt 150 ]; do
	read -r line < /proc/meminfo && echo "$line"
	usleep 10000
	i=$((i+1))
done`

// TestEventsAttachRunc: a plain runc container (no hook, no wrapper),
// started after a daemon with events on and reconcile_interval "0s", is
// attached while it runs: its reads switch from the host's MemTotal to
// its limit once and for good, and the daemon counts an attach by the
// event path. How many reads saw the host is logged, not asserted.
func TestEventsAttachRunc(t *testing.T) {
	const memLimit = 192 << 20
	requireRoot(t)
	conn, err := procevents.Open()
	if err != nil {
		skipOrFail(t, "the event watch needs the kernel's proc connector (CONFIG_PROC_EVENTS): %v", err)
	}
	conn.Close()
	c := hookBundle(t, "evrunc", memLimit, 100000, 100000, meminfoLoopScript)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	in := newInstance(t, "0s", c.CgroupPath)
	in.writeConfig(fmt.Sprintf("reconcile_interval = \"0s\"\nevents = true\nmetrics_address = %q\n", addr))
	in.startDaemon()

	cmd := exec.Command("runc", "--root", c.Root, "run", "--bundle", c.Bundle, c.ID)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(execTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("runc run did not finish in %s; stderr: %s", execTimeout, se.String())
	}
	if err != nil {
		t.Fatalf("runc run: %v\nstderr: %s\ndaemon log:\n%s", err, se.String(), in.log())
	}

	host := hostMemTotalKB(t)
	var values []int64
	for _, line := range strings.Split(strings.TrimSpace(so.String()), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "MemTotal:" || f[2] != "kB" {
			t.Fatalf("container printed %q, want MemTotal lines", line)
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		values = append(values, v)
	}
	if len(values) != 150 {
		t.Errorf("%d reads, want 150", len(values))
	}
	sawHost, attached := 0, false
	for i, v := range values {
		switch {
		case v == memLimit/1024:
			attached = true
		case v == host && !attached:
			sawHost++
		case v == host:
			t.Errorf("read %d saw the host's MemTotal again after the limit: %v", i, values)
		default:
			t.Errorf("read %d: MemTotal %d kB, neither the limit %d nor the host's %d", i, v, memLimit/1024, host)
		}
	}
	if !attached {
		t.Fatalf("no read saw the limit: the container was not attached\ndaemon log:\n%s", in.log())
	}
	t.Logf("%d of %d reads (every 10 ms from the entrypoint's first instruction) saw the host's MemTotal before the attach", sawHost, len(values))

	if got := scrape(t, addr, "lxmount_events_attached_total"); got != 1 {
		t.Errorf("lxmount_events_attached_total = %d, want 1\ndaemon log:\n%s", got, in.log())
	}
	in.waitContainers(0, 10*time.Second) // forgotten once it exited
}

// scrape returns the value of an unlabelled metric from the daemon's
// /metrics at addr.
func scrape(t *testing.T, addr, name string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no metric %s in:\n%s", name, b)
	return 0
}
