package integration

// sched_getaffinity(2) answered by the daemon (issue 14, item 4): with
// [policy.cpu] affinity = "quota" a container created through
// lxmount-runc with a 1-CPU quota counts 1 CPU in nproc (busybox's and
// coreutils'), and Python's os.sched_getaffinity(0); without it, the
// cpuset's count. The annotation lxmount.io/sched-getaffinity overrides
// the policy either way.

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// affinityScript prints busybox nproc, coreutils nproc and Python's
// count, one per line (the host's /usr is bound at /usr).
const affinityScript = `nproc; /usr/bin/nproc; /usr/bin/python3 -c 'import os; print(len(os.sched_getaffinity(0)))'`

func TestSysinfoAffinity(t *testing.T) {
	requireCommands(t, "python3")
	host := runtime.NumCPU() // the test's own mask: the containers' cpuset
	if host < 2 {
		t.Skipf("%d CPU: a 1-CPU quota changes nothing", host)
	}
	for _, tt := range []struct {
		name       string
		policy     string // [policy.cpu] lines
		annotation string // lxmount.io/sched-getaffinity, "" for none
		want       int
	}{
		{"policy quota", `affinity = "quota"`, "", 1},
		{"default", ``, "", host},
		{"policy host", `affinity = "host"`, "", host},
		{"annotation host over policy quota", `affinity = "quota"`, "host", host},
		{"annotation quota over default", ``, "quota", 1},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			c := hookBundle(t, "affinity", hookMemLimit, 100000, 100000, affinityScript)
			editSpec(t, c.Bundle+"/config.json", func(spec map[string]any) {
				spec["mounts"] = append(spec["mounts"].([]any), map[string]any{
					"destination": "/usr", "type": "bind", "source": "/usr",
					"options": []string{"rbind", "ro", "nosuid", "nodev"},
				})
				if tt.annotation != "" {
					ann, _ := spec["annotations"].(map[string]any)
					if ann == nil {
						ann = map[string]any{}
					}
					ann["lxmount.io/sched-getaffinity"] = tt.annotation
					spec["annotations"] = ann
				}
			})
			in := newHookInstance(t, "", c.CgroupPath)
			in.writePolicy("10-test.toml", fmt.Sprintf("[[policy]]\nname = \"test\"\n[policy.match]\ncgroup = %s\n[policy.cpu]\n%s\n", tomlList([]string{c.CgroupPath}), tt.policy))
			out, stderr, err := runWrapped(t, c, nil, "--lxmount-config", in.config)
			if err != nil {
				t.Fatalf("lxmount-runc run: %v\nstdout: %s\nstderr: %s\ndaemon log:\n%s", err, out, stderr, in.log())
			}
			got := strings.Fields(out)
			want := strings.Repeat(fmt.Sprintf("%d ", tt.want), 3)
			t.Logf("nproc, coreutils nproc, python: %v", got)
			if strings.Join(got, " ")+" " != want {
				t.Errorf("got %q, want %q (busybox nproc, coreutils nproc, os.sched_getaffinity)\nstderr: %s", out, want, stderr)
			}
			var spec struct {
				Linux struct {
					Seccomp struct {
						Syscalls []struct {
							Names  []string `json:"names"`
							Action string   `json:"action"`
						} `json:"syscalls"`
					} `json:"seccomp"`
				} `json:"linux"`
			}
			b, _ := os.ReadFile(c.Bundle + "/config.json")
			if err := json.Unmarshal(b, &spec); err != nil {
				t.Fatal(err)
			}
			rule := false
			for _, r := range spec.Linux.Seccomp.Syscalls {
				rule = rule || r.Action == "SCMP_ACT_NOTIFY" && slices.Contains(r.Names, "sched_getaffinity")
			}
			if rule != (tt.want == 1) {
				t.Errorf("notify rule for sched_getaffinity: %t, want %t", rule, tt.want == 1)
			}
		})
	}
}
