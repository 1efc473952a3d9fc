package supervisor

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMetricsExposition(t *testing.T) {
	s := &Supervisor{byID: map[string]*attachment{}, byNS: map[uint64]*attachment{}}
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{"# TYPE lxmount_containers gauge\nlxmount_containers 0\n", "# TYPE lxmount_reads_total counter\n", "lxmount_threads ",
		"# TYPE lxmount_events_received_total counter\nlxmount_events_received_total 0\n", "lxmount_events_watching 0\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
