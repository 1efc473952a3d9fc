package oci

import (
	"encoding/json"
	"slices"
	"testing"
)

type testProfile struct {
	DefaultAction string   `json:"defaultAction"`
	Architectures []string `json:"architectures"`
	ListenerPath  string   `json:"listenerPath"`
	Syscalls      []struct {
		Names  []string `json:"names"`
		Action string   `json:"action"`
		Args   []any    `json:"args"`
	} `json:"syscalls"`
}

func profileOf(t *testing.T, data []byte) testProfile {
	t.Helper()
	var doc struct {
		Linux struct {
			Seccomp *testProfile `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Linux.Seccomp == nil {
		t.Fatalf("no seccomp profile in %s", data)
	}
	return *doc.Linux.Seccomp
}

// notified returns the names of the notify rules, and where else each
// name appears.
func notified(p testProfile) (notify []string, elsewhere []string) {
	for _, r := range p.Syscalls {
		if r.Action == NotifyAction {
			notify = append(notify, r.Names...)
		} else {
			elsewhere = append(elsewhere, r.Names...)
		}
	}
	return notify, elsewhere
}

const sock = "/run/lxmount/seccomp.sock"

func TestAddSeccompNotifyMinimal(t *testing.T) {
	in := []byte(`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"cgroupsPath":"/x","namespaces":[{"type":"pid"}]}}`)
	out, changed, err := AddSeccompNotify(in, sock, []string{"sysinfo"})
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	p := profileOf(t, out)
	if p.DefaultAction != "SCMP_ACT_ALLOW" || p.ListenerPath != sock || len(p.Architectures) == 0 {
		t.Errorf("profile %+v", p)
	}
	if n, _ := notified(p); !slices.Equal(n, []string{"sysinfo"}) {
		t.Errorf("notify %v", n)
	}
	b, _ := ParseConfig("/b", out)
	if b.CgroupsPath != "/x" {
		t.Errorf("cgroupsPath lost: %s", out)
	}
	again, changed, err := AddSeccompNotify(out, sock, []string{"sysinfo"})
	if err != nil || changed || string(again) != string(out) {
		t.Errorf("second add changed %v (err %v):\n%s\n%s", changed, err, out, again)
	}
}

// Docker's default profile: defaultAction errno, sysinfo in the big allow list.
func TestAddSeccompNotifyDockerDefault(t *testing.T) {
	in := []byte(`{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
		"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
		"syscalls":[{"names":["read","sysinfo","write"],"action":"SCMP_ACT_ALLOW"},
		{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]}]}}}`)
	out, changed, err := AddSeccompNotify(in, sock, []string{"sysinfo", "sched_getaffinity"})
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	p := profileOf(t, out)
	n, else_ := notified(p)
	if !slices.Equal(n, []string{"sysinfo"}) || slices.Contains(else_, "sysinfo") || !slices.Contains(else_, "read") || !slices.Contains(else_, "write") {
		t.Errorf("notify %v, others %v (sched_getaffinity is refused by the profile and stays so)", n, else_)
	}
	if p.DefaultAction != "SCMP_ACT_ERRNO" || len(p.Syscalls) != 3 || len(p.Syscalls[1].Args) != 1 {
		t.Errorf("profile not kept: %+v", p)
	}
	var raw map[string]map[string]map[string]any
	json.Unmarshal(out, &raw)
	if raw["linux"]["seccomp"]["defaultErrnoRet"] != float64(1) {
		t.Errorf("defaultErrnoRet lost: %s", out)
	}
}

func TestAddSeccompNotifyLeavesAlone(t *testing.T) {
	for name, in := range map[string]string{
		"refused":        `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sysinfo"],"action":"SCMP_ACT_ERRNO"}]}}}`,
		"default errno":  `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}}}`,
		"other listener": `{"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/other.sock"}}}`,
	} {
		out, changed, err := AddSeccompNotify([]byte(in), sock, []string{"sysinfo"})
		if err != nil || changed || string(out) != in {
			t.Errorf("%s: changed %v, err %v: %s", name, changed, err, out)
		}
	}
}

func TestAddTimeNamespace(t *testing.T) {
	in := []byte(`{"linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}`)
	out, changed, err := AddTimeNamespace(in, -12345)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	var doc struct {
		Linux struct {
			Namespaces  []map[string]string         `json:"namespaces"`
			TimeOffsets map[string]map[string]int64 `json:"timeOffsets"`
		} `json:"linux"`
	}
	json.Unmarshal(out, &doc)
	if len(doc.Linux.Namespaces) != 3 || doc.Linux.Namespaces[2]["type"] != "time" || doc.Linux.TimeOffsets["boottime"]["secs"] != -12345 {
		t.Errorf("got %s", out)
	}
	if _, changed, _ := AddTimeNamespace(out, -1); changed {
		t.Errorf("a second time namespace was added")
	}
}
