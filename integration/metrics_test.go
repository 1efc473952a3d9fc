package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint: with metrics_address set, the daemon serves its
// counters on loopback in the Prometheus text format.
func TestMetricsEndpoint(t *testing.T) {
	c := namespacedCase(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	in := newInstance(t, "", c.cgroup)
	in.writeConfig(fmt.Sprintf("reconcile_interval = \"0s\"\nmetrics_address = %q\n", addr))
	in.startDaemon()
	in.mustRun("attach", strconv.Itoa(c.pid))
	if _, err := c.exec("cat", "/proc/meminfo"); err != nil {
		t.Fatal(err)
	}
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /metrics: %v\nlog:\n%s", err, in.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	id := in.status().Containers[0].ID
	for _, want := range []string{"lxmount_containers 1\n", fmt.Sprintf("lxmount_reads_total{id=%q,policy=\"test\"} ", id)} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
