package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lxmount/lxmount/supervisor"
)

func statusCommand() *command {
	var asJSON bool
	c := &command{
		name:    "status",
		summary: "list attached containers",
		usage:   "[--json]",
		help: `Lists the attached containers: id, init pid, cgroup, files, attach time,
reads served and the last error. --json prints the documented contract:
{"daemon": {"pid", "version", "started_at", ...}, "containers": [...]}
(see README, "Status JSON").

EXAMPLE:
  lxmount status
  lxmount status --json | jq '.containers[].id'`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
		}
		st, err := supervisor.NewClient(g.socket).Status()
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		printStatus(stdout, st)
		return nil
	}
	return c
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func printStatus(w io.Writer, st supervisor.Status) {
	fmt.Fprintf(w, "daemon pid %d, version %s, up %s, %d container(s)\n", st.Daemon.PID, st.Daemon.Version,
		time.Since(st.Daemon.StartedAt).Round(time.Second), len(st.Containers))
	if lr := st.Daemon.LastReconcile; lr != nil {
		fmt.Fprintf(w, "last reconcile %s ago: %s\n", time.Since(lr.At).Round(time.Second), lr.Summary)
	}
	if e := st.Daemon.Events; e.Watching || e != (supervisor.EventStats{}) {
		fmt.Fprintf(w, "event watch: %s, %d exec events, %d containers attached, %d overruns\n", onOff(e.Watching), e.Received, e.Attached, e.Overruns)
	}
	if h := st.Daemon.Hooks; h != (supervisor.HookStats{}) {
		fmt.Fprintf(w, "oci hooks: %d attached, %d late, %d failed, %d unanswered\n", h.Attached, h.Late, h.Failed, h.Unanswered)
	}
	if st.Daemon.PolicyError != "" {
		fmt.Fprintf(w, "policy reload failed, last good policies in use: %s\n", st.Daemon.PolicyError)
	}
	if len(st.Containers) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINIT PID\tCGROUP\tPOLICY\tFILES\tHEALTH\tATTACHED\tREADS\tERRORS\tLAST ERROR")
	for _, c := range st.Containers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.ID, c.InitPID, c.Cgroup, c.Policy,
			filesColumn(c.Files), dash(c.Health), c.AttachedAt.Format(time.RFC3339), c.Reads, c.Errors, dash(c.LastError))
	}
	tw.Flush()
}

// filesColumn lists the mounted files, or their count when there are many.
func filesColumn(files []string) string {
	if len(files) > 4 {
		return fmt.Sprintf("%d files", len(files))
	}
	return strings.Join(files, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
