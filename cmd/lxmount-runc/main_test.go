package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseOwn(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want options
		rest []string
		err  string
	}{
		{args: []string{"--root", "/r", "create", "x"}, rest: []string{"--root", "/r", "create", "x"}},
		{args: []string{"--lxmount-config", "/c.toml", "--lxmount-runtime=crun", "run", "x"}, want: options{config: "/c.toml", runtime: "crun"}, rest: []string{"run", "x"}},
		// Only leading options are lxmount-runc's: later ones are the runtime's.
		{args: []string{"--debug", "--lxmount-config", "/c"}, rest: []string{"--debug", "--lxmount-config", "/c"}},
		{args: []string{"--lxmount-config"}, err: "--lxmount-config needs a value"},
		{args: []string{"--lxmount-runtime="}, err: "--lxmount-runtime needs a non-empty value"},
	} {
		o, rest, err := parseOwn(tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parseOwn(%q): err %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || o != tc.want || !slices.Equal(rest, tc.rest) {
			t.Errorf("parseOwn(%q) = %+v, %q, %v; want %+v, %q", tc.args, o, rest, err, tc.want, tc.rest)
		}
	}
}

func TestCreates(t *testing.T) {
	for _, tc := range []struct {
		args   string
		cmd    string
		bundle string
	}{
		// containerd-shim-runc-v2 (Docker, ctr, CRI).
		{args: "--root /run/containerd/runc/default --log /run/x/log.json --log-format json create --bundle /run/b --pid-file /run/b/init.pid web", cmd: "create", bundle: "/run/b"},
		// CRI-O / conmon style, runc's short flag.
		{args: "--systemd-cgroup --root=/run/runc create -b /run/b2 --pid-file /p id", cmd: "create", bundle: "/run/b2"},
		{args: "run --bundle=/run/b3 -d id", cmd: "run", bundle: "/run/b3"},
		{args: "--cgroup-manager cgroupfs run -b=/run/b4 id", cmd: "run", bundle: "/run/b4"},
		{args: "start web"},
		{args: "--root /r state web"},
		{args: "--log create"}, // "create" is --log's value: no command
		{args: "exec web -- create --bundle /x"},
	} {
		cmd, bundle, ok := creates(strings.Fields(tc.args))
		if ok != (tc.cmd != "") || cmd != tc.cmd || bundle != tc.bundle {
			t.Errorf("creates(%q) = %q, %q, %v; want %q, %q", tc.args, cmd, bundle, ok, tc.cmd, tc.bundle)
		}
	}
	wd, _ := os.Getwd()
	if _, bundle, _ := creates([]string{"create", "id"}); bundle != wd {
		t.Errorf("no --bundle: %q, want the working directory %q", bundle, wd)
	}
}

// TestRunExecsRuntimeWithSameArgs: the runtime gets exactly the arguments
// after lxmount-runc's own, and a create gets the hook.
func TestRunExecsRuntimeWithSameArgs(t *testing.T) {
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(`{"root":{"path":"rootfs"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A fake lxmount beside a copy of the test binary is not needed: the
	// PATH lookup finds this one.
	dir := t.TempDir()
	fake := filepath.Join(dir, "lxmount")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	var got []string
	var stderr strings.Builder
	// A configuration of the test's own: the sysinfo rule's holder
	// (this fake lxmount, which exits) is looked for in its state_dir.
	cfg := filepath.Join(dir, "x.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir = %q\n", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"--lxmount-config", cfg, "--lxmount-runtime", "true", "--root", "/r", "create", "--bundle", bundle, "id"}, &stderr,
		func(argv0 string, argv []string, envv []string) error { got = argv; return os.ErrInvalid })
	if code != 1 || len(got) == 0 || !strings.HasSuffix(got[0], "/true") || !slices.Equal(got[1:], []string{"--root", "/r", "create", "--bundle", bundle, "id"}) {
		t.Fatalf("exec argv %q, exit %d, stderr %s", got, code, stderr.String())
	}
	b, _ := os.ReadFile(filepath.Join(bundle, "config.json"))
	var spec struct {
		Hooks map[string][]struct {
			Path string   `json:"path"`
			Args []string `json:"args"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	h := spec.Hooks["createRuntime"]
	// The hook is this program's own --lxmount-hook (the test binary
	// stands for lxmount-runc here).
	self, _ := os.Executable()
	if len(h) != 1 || h[0].Path != self || !slices.Equal(h[0].Args, []string{"lxmount-runc", "--lxmount-hook", "--runtime", "true", "--config", cfg}) {
		t.Errorf("createRuntime hooks %+v", h)
	}
}
