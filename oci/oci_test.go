package oci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runcState is what runc 1.1.5 hands a createRuntime hook (captured here);
// crunState is crun 1.8's.
const (
	runcState = `{"ociVersion":"1.0.2-dev","id":"exp1","status":"creating","pid":3588,"bundle":"/tmp/exp/b"}`
	crunState = `{"ociVersion":"1.0","id":"exp2","pid":3687,"root":"rootfs","bundle":"/tmp/exp/b","status":"created"}`
)

func TestParseState(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     State
		err      string
	}{
		{name: "runc", in: runcState, want: State{Version: "1.0.2-dev", ID: "exp1", Status: "creating", PID: 3588, Bundle: "/tmp/exp/b"}},
		{name: "crun", in: crunState, want: State{Version: "1.0", ID: "exp2", Status: "created", PID: 3687, Bundle: "/tmp/exp/b"}},
		{name: "annotations", in: `{"id":"a","pid":1,"bundle":"/b","annotations":{"lxmount.io/skip":"true"}}`,
			want: State{ID: "a", PID: 1, Bundle: "/b", Annotations: map[string]string{"lxmount.io/skip": "true"}}},
		{name: "createContainer stage has pid 0", in: `{"id":"a","pid":0,"bundle":"/b"}`, err: "pid 0 is not a process"},
		{name: "relative bundle", in: `{"id":"a","pid":4,"bundle":"b"}`, err: `bundle "b" is not an absolute path`},
		{name: "no id", in: `{"pid":4,"bundle":"/b"}`, err: "no container id"},
		{name: "not json", in: `pid=4`, err: "OCI state: invalid character"},
		{name: "empty", in: ``, err: "OCI state: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseState(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.want.ID || got.PID != tc.want.PID || got.Bundle != tc.want.Bundle || got.Status != tc.want.Status || got.Version != tc.want.Version || len(got.Annotations) != len(tc.want.Annotations) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	data := []byte(`{"root":{"path":"rootfs","readonly":true},"hostname":"web",
		"annotations":{"a":"1"},"mounts":[{"destination":"/etc/hostname","source":"/var/lib/docker/containers/abc/hostname","type":"bind"}],
		"linux":{"cgroupsPath":"/docker/abc"}}`)
	b, err := ParseConfig("/run/b", data)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rootfs != "/run/b/rootfs" || b.Hostname != "web" || b.Annotations["a"] != "1" || b.CgroupsPath != "/docker/abc" {
		t.Errorf("got %+v", b)
	}
	if got := b.MountSource("/etc/hostname"); got != "/var/lib/docker/containers/abc/hostname" {
		t.Errorf("MountSource(/etc/hostname) = %q", got)
	}
	abs, err := ParseConfig("/run/b", []byte(`{"root":{"path":"/var/lib/x/merged/"}}`))
	if err != nil || abs.Rootfs != "/var/lib/x/merged" {
		t.Errorf("absolute root: %+v, %v", abs, err)
	}
	if _, err := ParseConfig("/run/b", []byte(`{"process":{}}`)); err == nil || err.Error() != "no root.path" {
		t.Errorf("no root: %v", err)
	}
}

func hookFor(cfg string) Hook {
	return Hook{Path: "/usr/local/bin/lxmount", Args: []string{"lxmount", "oci-hook", "--config", cfg}}
}

func TestAddHook(t *testing.T) {
	// Docker's prestart hook and an unknown member must survive as they are.
	in := []byte(`{"ociVersion":"1.0.2","x-unknown":{"keep":[1,2,3]},"root":{"path":"rootfs"},
		"hooks":{"prestart":[{"path":"/usr/bin/dockerd","args":["libnetwork-setkey","-exec-root=/run/docker","abc","def"]}]}}`)
	out, changed, err := AddHook(in, hookFor("/etc/lxmount/lxmount.toml"))
	if err != nil || !changed {
		t.Fatalf("AddHook: changed %v, %v", changed, err)
	}
	var doc struct {
		Unknown json.RawMessage   `json:"x-unknown"`
		Hooks   map[string][]Hook `json:"hooks"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc.Unknown) != `{"keep":[1,2,3]}` {
		t.Errorf("unknown member = %s", doc.Unknown)
	}
	if len(doc.Hooks["prestart"]) != 1 || doc.Hooks["prestart"][0].Args[0] != "libnetwork-setkey" {
		t.Errorf("prestart hooks = %+v", doc.Hooks["prestart"])
	}
	if got := doc.Hooks[HookStage]; len(got) != 1 || got[0].Path != "/usr/local/bin/lxmount" || got[0].Args[1] != HookCommand {
		t.Errorf("createRuntime = %+v", got)
	}

	t.Run("idempotent", func(t *testing.T) {
		again, changed, err := AddHook(out, hookFor("/etc/lxmount/lxmount.toml"))
		if err != nil || changed || string(again) != string(out) {
			t.Errorf("second AddHook: changed %v, err %v, same bytes %v", changed, err, string(again) == string(out))
		}
	})
	t.Run("other settings replace the entry", func(t *testing.T) {
		other, changed, err := AddHook(out, hookFor("/srv/lx.toml"))
		if err != nil || !changed {
			t.Fatalf("changed %v, %v", changed, err)
		}
		var d struct {
			Hooks map[string][]Hook `json:"hooks"`
		}
		json.Unmarshal(other, &d)
		if got := d.Hooks[HookStage]; len(got) != 1 || got[0].Args[3] != "/srv/lx.toml" {
			t.Errorf("createRuntime = %+v", got)
		}
	})
	t.Run("other createRuntime hooks stay first", func(t *testing.T) {
		in := []byte(`{"hooks":{"createRuntime":[{"path":"/bin/nvidia-hook"}]},"root":{"path":"r"}}`)
		out, _, err := AddHook(in, hookFor("/c"))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Hooks map[string][]Hook `json:"hooks"`
		}
		json.Unmarshal(out, &d)
		if got := d.Hooks[HookStage]; len(got) != 2 || got[0].Path != "/bin/nvidia-hook" || got[1].Path != "/usr/local/bin/lxmount" {
			t.Errorf("createRuntime = %+v", got)
		}
	})
	for _, bad := range []string{`[]`, `null`, `{"hooks":[]}`, `{"hooks":{"createRuntime":{}}}`, `{`} {
		if _, _, err := AddHook([]byte(bad), hookFor("/c")); err == nil {
			t.Errorf("AddHook(%s): no error", bad)
		}
	}
}

func TestWriteConfigKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(path, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteConfig(dir, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"a":1}` {
		t.Errorf("content %s", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(runcState))
	f.Add([]byte(crunState))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(strings.NewReader(string(b)))
		if err == nil && (st.PID <= 0 || st.ID == "" || !filepath.IsAbs(st.Bundle)) {
			t.Errorf("accepted %+v", st)
		}
	})
}

func FuzzAddHook(f *testing.F) {
	f.Add([]byte(`{"root":{"path":"rootfs"},"hooks":{"prestart":[{"path":"/x"}]}}`))
	f.Add([]byte(`{"hooks":{"createRuntime":[{"path":"/usr/local/bin/lxmount","args":["lxmount","oci-hook"]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := AddHook(b, hookFor("/c"))
		if err != nil {
			return
		}
		again, changed, err := AddHook(out, hookFor("/c"))
		if err != nil || changed || string(again) != string(out) {
			t.Errorf("not idempotent on %q: changed %v, %v", b, changed, err)
		}
	})
}
