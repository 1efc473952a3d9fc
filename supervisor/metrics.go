package supervisor

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// MetricsHandler serves the daemon's counters in the Prometheus text
// exposition format (version 0.0.4), for the daemon setting
// metrics_address. Per-container series carry the container id and policy.
func (s *Supervisor) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.Status()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		var b strings.Builder
		gauge := func(name, help string, v int) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
		}
		gauge("lxmount_containers", "Attached containers.", len(st.Containers))
		gauge("lxmount_goroutines", "Goroutines of the daemon.", st.Daemon.Goroutines)
		gauge("lxmount_threads", "OS threads of the daemon.", st.Daemon.Threads)
		gauge("lxmount_fds", "Open file descriptors of the daemon.", st.Daemon.FDs)
		broken := 0
		for _, c := range st.Containers {
			if strings.HasPrefix(c.Health, "broken") {
				broken++
			}
		}
		gauge("lxmount_containers_broken", "Attached containers whose mounts were found broken at the last check.", broken)
		if lr := st.Daemon.LastReconcile; lr != nil {
			fmt.Fprintf(&b, "# HELP lxmount_last_reconcile_timestamp_seconds When the last reconcile ran.\n# TYPE lxmount_last_reconcile_timestamp_seconds gauge\nlxmount_last_reconcile_timestamp_seconds %d\n", lr.At.Unix())
			fmt.Fprintf(&b, "# HELP lxmount_last_reconcile_failed Containers the last reconcile failed on.\n# TYPE lxmount_last_reconcile_failed gauge\nlxmount_last_reconcile_failed %d\n", lr.Summary.Failed)
		}
		hooks := []struct {
			outcome string
			n       uint64
		}{{"attached", st.Daemon.Hooks.Attached}, {"late", st.Daemon.Hooks.Late}, {"failed", st.Daemon.Hooks.Failed}, {"unanswered", st.Daemon.Hooks.Unanswered}}
		fmt.Fprintf(&b, "# HELP lxmount_hook_attaches_total Attaches asked for by OCI hooks, by outcome (late: after the hook's deadline; unanswered: no daemon answered the hook).\n# TYPE lxmount_hook_attaches_total counter\n")
		for _, h := range hooks {
			fmt.Fprintf(&b, "lxmount_hook_attaches_total{outcome=%q} %d\n", h.outcome, h.n)
		}
		ev := s.EventStats()
		watching := 0
		if ev.Watching {
			watching = 1
		}
		gauge("lxmount_events_watching", "1 while the daemon reads exec events (event-driven discovery), else 0.", watching)
		total := func(name, help string, v uint64) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
		}
		total("lxmount_events_received_total", "Exec events read.", ev.Received)
		total("lxmount_events_attached_total", "Containers attached when their first process exec'd.", ev.Attached)
		total("lxmount_events_overruns_total", "Times exec events were lost (receive buffer overrun), each followed by a reconcile.", ev.Overruns)
		sort.Slice(st.Containers, func(i, j int) bool { return st.Containers[i].ID < st.Containers[j].ID })
		counter := func(name, help string, v func(ContainerInfo) uint64) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
			for _, c := range st.Containers {
				fmt.Fprintf(&b, "%s{id=%q,policy=%q} %d\n", name, c.ID, c.Policy, v(c))
			}
		}
		counter("lxmount_reads_total", "Renders served (reads at offset 0).", func(c ContainerInfo) uint64 { return c.Reads })
		counter("lxmount_render_errors_total", "Renders that failed.", func(c ContainerInfo) uint64 { return c.Errors })
		_, _ = w.Write([]byte(b.String()))
	})
}
