package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/supervisor"
)

func TestParseGlobalsBeforeAndAfterTheCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want globals
		rest string
	}{
		{"before", []string{"--socket", "S", "attach", "42"}, globals{socket: "S"}, "attach 42"},
		{"after", []string{"attach", "42", "--socket", "S"}, globals{socket: "S"}, "attach 42"},
		{"equals form", []string{"daemon", "--socket=S", "--state-dir=D", "--config=C"}, globals{socket: "S", stateDir: "D", config: "C"}, "daemon"},
		{"command flags kept", []string{"attach", "--no-start", "42", "--state-dir", "D"}, globals{stateDir: "D"}, "attach --no-start 42"},
		{"after --", []string{"render", "--", "--socket"}, globals{}, "render -- --socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, rest, err := parseGlobals(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if g != tc.want || strings.Join(rest, " ") != tc.rest {
				t.Errorf("got %+v %q, want %+v %q", g, rest, tc.want, tc.rest)
			}
		})
	}
	if _, _, err := parseGlobals([]string{"status", "--socket"}); err == nil {
		t.Errorf("--socket without a value accepted")
	}
}

func TestDefaultsFollowTheStateDir(t *testing.T) {
	g := globals{stateDir: "/tmp/lx"}.withDefaults(nil)
	if g.socket != filepath.Join("/tmp/lx", "lxmount.sock") {
		t.Errorf("socket %q, want it in the state dir", g.socket)
	}
	g = globals{}.withDefaults(nil)
	if g.socket != defaultSocket || g.stateDir != defaultStateDir {
		t.Errorf("defaults %+v", g)
	}
}

func TestExitCodes(t *testing.T) {
	dead := filepath.Join(t.TempDir(), "no.sock")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{"no command", nil, 2, "Usage: lxmount"},
		{"help", []string{"--help"}, 0, "Commands:"},
		{"command help", []string{"attach", "--help"}, 0, "EXAMPLE:"},
		{"help command", []string{"help", "reconcile"}, 0, "--dry-run"},
		{"version", []string{"version"}, 0, "lxmount "},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"bad flag", []string{"status", "--bogus"}, 2, "flag provided but not defined"},
		{"pid not a number", []string{"attach", "x1"}, 2, `"x1" is not a process id`},
		{"no daemon", []string{"--socket", dead, "status"}, 1, "no daemon answers on " + dead},
		{"detach needs a target", []string{"detach"}, 2, "exactly one <pid|id>"},
		{"render unknown file", []string{"render", "memnfo", "--pid", "1"}, 2, "unknown file \"memnfo\" (valid: meminfo"},
		{"render needs one binding", []string{"render", "meminfo"}, 2, "exactly one of --pid or --cgroup"},
		{"render bad cpu view", []string{"render", "cpuinfo", "--cgroup", "/", "--cpu-view", "all"}, 2, "valid: quota, cpuset"},
		{"render missing cgroup", []string{"render", "meminfo", "--cgroup", "/lxmount-no-such-cgroup"}, 1, "no such cgroup"},
		{"policy subcommand", []string{"policy", "lint"}, 2, "valid: check, explain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var so, se bytes.Buffer
			code := run(tc.args, &so, &se)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, so.String(), se.String())
			}
			if !strings.Contains(so.String()+se.String(), tc.out) {
				t.Errorf("output does not contain %q\nstdout: %s\nstderr: %s", tc.out, so.String(), se.String())
			}
			if code == 1 && strings.Count(strings.TrimSpace(se.String()), "\n") > 0 {
				t.Errorf("failure message is not one line: %q", se.String())
			}
		})
	}
}

func TestRenderHostCgroupRoot(t *testing.T) {
	// The root cgroup exists on every host: rendering for it works
	// without a daemon and without root.
	var so, se bytes.Buffer
	if code := run([]string{"render", "/proc/meminfo", "--cgroup", "/"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if !strings.HasPrefix(so.String(), "MemTotal:") {
		t.Errorf("render printed %q", so.String())
	}
}

func TestStatusTable(t *testing.T) {
	var b bytes.Buffer
	st := supervisor.Status{Containers: []supervisor.ContainerInfo{{
		ID: "web-1", InitPID: 42, Cgroup: "/web-1", Policy: "default", Health: "healthy",
		Files: []string{"meminfo", "cpuinfo", "stat", "uptime", "loadavg"},
	}}}
	st.Daemon.PolicyError = "p.toml:1:1: bad"
	printStatus(&b, st)
	for _, want := range []string{"HEALTH", "healthy", "5 files", "web-1", "policy reload failed, last good policies in use: p.toml:1:1: bad"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, b.String())
		}
	}
}
