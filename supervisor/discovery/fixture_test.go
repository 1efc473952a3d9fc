package discovery

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Namespace inode numbers of the fixture host; the values are those of a
// freshly booted Linux 6.1 (the initial namespaces are created in this
// order, fs/nsfs.c).
const (
	hostPIDNS = 4026531836
	hostMntNS = 4026531841
)

// fproc is one process of a fixture procfs written by writeProcTree.
type fproc struct {
	pid, ppid int
	start     uint64 // starttime, field 22 of stat
	pidNS     uint64 // 0: the host's
	mntNS     uint64 // 0: the host's
	nspid     []int  // NSpid line of status; nil: just pid
	zombie    bool   // no ns/mnt link, as for a zombie
	comm      string // "" : "sh"
}

// writeProcTree writes a fixture procfs under a new temporary directory and
// returns its path:
//
//	<root>/uptime             "1000.00 3000.00"
//	<root>/<pid>/stat         the one line, with ppid and starttime set
//	<root>/<pid>/status       Name and NSpid lines
//	<root>/<pid>/cgroup       memory and unified lines: "/cg-<pid>"
//	<root>/<pid>/ns/pid       symlink to "pid:[<inode>]"
//	<root>/<pid>/ns/mnt       symlink to "mnt:[<inode>]"
//
// PID 1 (the host's init, host namespaces) is always added.
func writeProcTree(t *testing.T, procs []fproc) string {
	t.Helper()
	root := t.TempDir()
	all := append([]fproc{{pid: 1, ppid: 0, start: 1, comm: "init"}}, procs...)
	write(t, filepath.Join(root, "uptime"), "1000.00 3000.00\n")
	for _, p := range all {
		dir := filepath.Join(root, strconv.Itoa(p.pid))
		if err := os.MkdirAll(filepath.Join(dir, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		comm := p.comm
		if comm == "" {
			comm = "sh"
		}
		// Fields 3..52 of a real line; 4 is ppid, 22 starttime.
		write(t, filepath.Join(dir, "stat"), fmt.Sprintf(
			"%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %d 2605056 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
			p.pid, comm, p.ppid, p.pid, p.pid, p.start))
		nspid := p.nspid
		if nspid == nil {
			nspid = []int{p.pid}
		}
		var ns []string
		for _, n := range nspid {
			ns = append(ns, strconv.Itoa(n))
		}
		write(t, filepath.Join(dir, "status"), "Name:\t"+comm+"\nUmask:\t0022\nState:\tS (sleeping)\nNSpid:\t"+strings.Join(ns, "\t")+"\n")
		write(t, filepath.Join(dir, "cgroup"), fmt.Sprintf("4:memory:/cg-%d\n0::/cg-%d\n", p.pid, p.pid))
		pidNS, mntNS := or(p.pidNS, hostPIDNS), or(p.mntNS, hostMntNS)
		symlink(t, fmt.Sprintf("pid:[%d]", pidNS), filepath.Join(dir, "ns", "pid"))
		if !p.zombie {
			symlink(t, fmt.Sprintf("mnt:[%d]", mntNS), filepath.Join(dir, "ns", "mnt"))
		}
	}
	return root
}

// or returns v, or def if v is 0.
func or(v, def uint64) uint64 {
	if v == 0 {
		return def
	}
	return v
}

// write creates path with content or fails the test.
func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// symlink creates link pointing to target or fails the test.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// fstate is one runtime state entry written by writeState.
type fstate struct {
	format      Format
	id          string
	pid         int
	start       uint64            // runc, crun: recorded start time
	annotations map[string]string // OCI annotations
	ns          string            // containerd namespace; "" = "default"
	pidFileAge  time.Duration     // containerd: init.pid mtime = boot + this (fixture boot: now - 1000 s)
}

// writeState writes one runtime state directory per format used in states,
// under a new temporary directory, laid out as that runtime does, and
// returns Sources for them (Runtime derived).
func writeState(t *testing.T, states []fstate) []Source {
	t.Helper()
	root := t.TempDir()
	dirs := map[Format]string{
		RuncState:       filepath.Join(root, "runc"),
		CrunState:       filepath.Join(root, "crun"),
		ContainerdTasks: filepath.Join(root, "io.containerd.runtime.v2.task"),
	}
	used := map[Format]bool{}
	for _, s := range states {
		used[s.format] = true
		dir := dirs[s.format]
		bundle := filepath.Join(root, "bundles", s.id)
		switch s.format {
		case RuncState:
			labels := []string{}
			for k, v := range s.annotations {
				labels = append(labels, k+"="+v)
			}
			labels = append(labels, "bundle="+bundle)
			writeJSON(t, filepath.Join(dir, s.id, "state.json"), map[string]any{
				"id": s.id, "init_process_pid": s.pid, "init_process_start": s.start,
				"config": map[string]any{"labels": labels},
			})
		case CrunState:
			writeJSON(t, filepath.Join(dir, s.id, "status"), map[string]any{
				"pid": s.pid, "process-start-time": s.start, "bundle": bundle,
			})
			writeJSON(t, filepath.Join(dir, s.id, "config.json"), map[string]any{"annotations": s.annotations})
		case ContainerdTasks:
			ns := s.ns
			if ns == "" {
				ns = "default"
			}
			task := filepath.Join(dir, ns, s.id)
			writeJSON(t, filepath.Join(task, "config.json"), map[string]any{"annotations": s.annotations})
			pidFile := filepath.Join(task, "init.pid")
			write(t, pidFile, strconv.Itoa(s.pid))
			// The fixture's uptime says boot was 1000 s ago.
			mtime := time.Now().Add(-1000 * time.Second).Add(s.pidFileAge)
			if err := os.Chtimes(pidFile, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	var srcs []Source
	for _, f := range []Format{RuncState, CrunState, ContainerdTasks} {
		if used[f] {
			srcs = append(srcs, Source{Format: f, Dir: dirs[f]})
		}
	}
	return srcs
}

// writeJSON writes v as JSON to path or fails the test.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, string(b))
}
