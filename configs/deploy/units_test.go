package deploy_test

// Checks of the systemd units: they parse as unit files, hold the keys
// README.md describes, and pass `systemd-analyze verify` where it exists.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// binPath is where every deployment file installs or expects lxmount.
const binPath = "/usr/local/bin/lxmount"

// readFile returns a deployment file of this directory.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unitFile is a parsed systemd unit: section -> key -> values, in file
// order (a key such as Documentation= may repeat).
type unitFile map[string]map[string][]string

// get returns the last value of key in section (the one systemd uses for
// single-valued keys) and whether it is set.
func (u unitFile) get(section, key string) (string, bool) {
	vs := u[section][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

var unitKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// parseUnit parses a unit file as systemd.syntax(7) describes it: [Section]
// headers, Key=Value lines, "#" and ";" comments, a trailing backslash
// continuing a line.
func parseUnit(name, text string) (unitFile, error) {
	u := unitFile{}
	section := ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s:%d: bad section header %q", name, lineNo, line)
			}
			section = line[1 : len(line)-1]
			if u[section] != nil {
				return nil, fmt.Errorf("%s:%d: section [%s] repeated", name, lineNo, section)
			}
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			key = strings.TrimSpace(key)
			if !ok || !unitKeyRE.MatchString(key) {
				return nil, fmt.Errorf("%s:%d: not Key=Value: %q", name, lineNo, line)
			}
			if section == "" {
				return nil, fmt.Errorf("%s:%d: %s= before any section", name, lineNo, key)
			}
			u[section][key] = append(u[section][key], strings.TrimSpace(value))
		}
	}
	return u, nil
}

func TestSystemdUnits(t *testing.T) {
	// want: file -> section -> key -> value, as README.md describes.
	want := map[string]map[string]map[string]string{
		"lxmount.service": {
			"Unit": {"StartLimitIntervalSec": "0"},
			"Service": {
				"Type":       "simple",
				"ExecStart":  binPath + " daemon",
				"ExecReload": "/bin/kill -HUP $MAINPID",
				"Restart":    "always",
				"RestartSec": "1s",
				"KillMode":   "mixed",
			},
			"Install": {"WantedBy": "multi-user.target"},
		},
		"lxmount-reconcile.service": {
			"Unit":    {"After": "lxmount.service"},
			"Service": {"Type": "oneshot", "ExecStart": binPath + " reconcile"},
		},
		"lxmount-reconcile.timer": {
			"Timer":   {"OnUnitActiveSec": "1min", "Unit": "lxmount-reconcile.service"},
			"Install": {"WantedBy": "timers.target"},
		},
	}
	units := map[string]unitFile{}
	for name, sections := range want {
		u, err := parseUnit(name, readFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		units[name] = u
		for section, keys := range sections {
			for key, v := range keys {
				if got, _ := u.get(section, key); got != v {
					t.Errorf("%s: [%s] %s=%q, want %q", name, section, key, got, v)
				}
			}
		}
		if d, _ := u.get("Unit", "Description"); d == "" {
			t.Errorf("%s: no Description=", name)
		}
		docs := u["Unit"]["Documentation"]
		if len(docs) == 0 {
			t.Errorf("%s: no Documentation=", name)
		}
		for _, d := range docs {
			if !strings.HasPrefix(d, "https://") {
				t.Errorf("%s: Documentation=%q is not an https:// URL", name, d)
			}
		}
	}

	daemon := units["lxmount.service"]
	if after, _ := daemon.get("Unit", "After"); !slices.Contains(strings.Fields(after), "containerd.service") {
		t.Errorf("lxmount.service: After=%q lacks containerd.service", after)
	}
	caps, _ := daemon.get("Service", "CapabilityBoundingSet")
	// Measured: attach fails without any of these (see the unit's comment).
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE"} {
		if !slices.Contains(strings.Fields(caps), c) {
			t.Errorf("lxmount.service: CapabilityBoundingSet=%q lacks %s", caps, c)
		}
	}
	// Settings that break mounting FUSE into other mount namespaces.
	for _, key := range []string{"PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock",
		"ProcSubset", "RestrictNamespaces", "SystemCallFilter", "PrivateTmp", "MemoryMax"} {
		if v, ok := daemon.get("Service", key); ok {
			t.Errorf("lxmount.service: %s=%s is set; the unit's comments say why it must not be", key, v)
		}
	}

	reconcile := units["lxmount-reconcile.service"]
	if c, _ := reconcile.get("Service", "ExecCondition"); !strings.Contains(c, binPath+" status") {
		t.Errorf("lxmount-reconcile.service: ExecCondition=%q does not ask `lxmount status`", c)
	}
	for _, key := range []string{"Wants", "Requires", "BindsTo"} {
		if v, ok := reconcile.get("Unit", key); ok {
			t.Errorf("lxmount-reconcile.service: %s=%s would start a daemon an administrator stopped", key, v)
		}
	}
	timer := units["lxmount-reconcile.timer"]
	for _, key := range []string{"OnBootSec", "AccuracySec"} {
		if _, ok := timer.get("Timer", key); !ok {
			t.Errorf("lxmount-reconcile.timer: no %s=", key)
		}
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("no systemd-analyze on this machine")
		}
		// verify wants the ExecStart= programs to exist: point them at an
		// executable stand-in, the rest of each unit unchanged.
		dir := t.TempDir()
		stub := filepath.Join(dir, "lxmount")
		if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		var names []string
		for name := range want {
			text := strings.ReplaceAll(readFile(t, name), binPath, stub)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		slices.Sort(names)
		cmd := exec.Command(analyze, append([]string{"verify"}, names...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		// Unknown keys and unparsable values are only warnings, exit 0.
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, dir) || strings.Contains(line, "lxmount") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	})
}
