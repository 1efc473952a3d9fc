package configs

import (
	"fmt"
	"testing"
)

// testSet parses policies from lines into a Set named t.toml.
func testSet(t testing.TB, lines ...string) *Set {
	t.Helper()
	ps, err := ParsePolicies("t.toml", doc(lines...))
	if err != nil {
		t.Fatal(err)
	}
	return &Set{Daemon: DefaultDaemon(), Policies: ps}
}

func TestMatch(t *testing.T) {
	s := testSet(t,
		`[[policy]]`, // line 1
		`name = "skip-system"`,
		`match.cgroup = "/kubepods/**"`,
		`match.kubernetes_namespace = ["kube-system", "kube-public"]`,
		`files = { meminfo = false }`,
		``,
		`[[policy]]`, // line 7
		`name = "kube"`,
		`[policy.match]`,
		`cgroup = ["/kubepods/**", "/kubepods.slice/**"]`,
		`[policy.match.exclude]`,
		`kubernetes_namespace = "batch-*"`,
		`kubernetes_pod = "cron-*"`,
		``,
		`[[policy]]`, // line 15
		`name = "podman-direct"`,
		`[policy.match]`,
		`cgroup = "/machine.slice/*"`,
		`runtime = "podman"`,
		``,
		`[[policy]]`, // line 21
		`name = "tier"`,
		`[policy.match.annotations]`,
		`"io.example/tier" = ["front*", "edge"]`,
		``,
		`[[policy]]`, // line 26
		`name = "by-id"`,
		`match = { id = "3f2a*", name = "web-*" }`,
	)
	ns := func(n string) map[string]string { return map[string]string{"io.kubernetes.pod.namespace": n} }
	tests := []struct {
		name   string
		c      Container
		policy string // "" for none
		why    string
	}{
		{
			name:   "first matching policy wins",
			c:      Container{CgroupPath: "/kubepods/burstable/pod1/abc", Annotations: ns("kube-system")},
			policy: "skip-system",
			why:    "matched policy skip-system (t.toml:1): cgroup /kubepods/burstable/pod1/abc matches /kubepods/**, kubernetes_namespace kube-system matches kube-system",
		},
		{
			name:   "later policy when the first fails",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: ns("prod")},
			policy: "kube",
			why:    "matched policy kube (t.toml:7): cgroup /kubepods/pod1/abc matches /kubepods/**",
		},
		{
			name:   "second glob of a list",
			c:      Container{CgroupPath: "/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope"},
			policy: "kube",
			why:    "matched policy kube (t.toml:7): cgroup /kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope matches /kubepods.slice/**",
		},
		{
			name:   "exclude needs all its keys: namespace alone does not exclude",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{"io.kubernetes.pod.namespace": "batch-1", "io.kubernetes.pod.name": "web-1"}},
			policy: "kube",
			why:    "matched policy kube (t.toml:7): cgroup /kubepods/pod1/abc matches /kubepods/**",
		},
		{
			name:   "excluded, and no later policy matches",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{"io.kubernetes.pod.namespace": "batch-1", "io.kubernetes.pod.name": "cron-7"}},
			policy: "",
			why: "no policy matches: skip-system: kubernetes_namespace batch-1 matches none of kube-system, kube-public;" +
				" kube: excluded: kubernetes_namespace batch-1 matches batch-*, kubernetes_pod cron-7 matches cron-*;" +
				" podman-direct: cgroup /kubepods/pod1/abc does not match /machine.slice/*;" +
				" tier: annotation io.example/tier unknown;" +
				" by-id: id unknown",
		},
		{
			name:   "friendly key reads containerd's annotation",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{"io.kubernetes.cri.sandbox-namespace": "kube-public"}},
			policy: "skip-system",
			why:    "matched policy skip-system (t.toml:1): cgroup /kubepods/pod1/abc matches /kubepods/**, kubernetes_namespace kube-public matches kube-public",
		},
		{
			name:   "single star is one segment",
			c:      Container{CgroupPath: "/machine.slice/libpod-1.scope", Runtime: "podman"},
			policy: "podman-direct",
			why:    "matched policy podman-direct (t.toml:15): cgroup /machine.slice/libpod-1.scope matches /machine.slice/*, runtime podman matches podman",
		},
		{
			name:   "single star does not cross a slash",
			c:      Container{CgroupPath: "/machine.slice/libpod-1.scope/container", Runtime: "podman"},
			policy: "",
		},
		{
			name:   "runtime must match",
			c:      Container{CgroupPath: "/machine.slice/libpod-1.scope", Runtime: "docker"},
			policy: "",
		},
		{
			name:   "unknown runtime does not match",
			c:      Container{CgroupPath: "/machine.slice/libpod-1.scope"},
			policy: "",
		},
		{
			name:   "annotation glob",
			c:      Container{CgroupPath: "/docker/1", Annotations: map[string]string{"io.example/tier": "frontend"}},
			policy: "tier",
			why:    "matched policy tier (t.toml:21): annotation io.example/tier frontend matches front*",
		},
		{
			name:   "annotation list is OR",
			c:      Container{Annotations: map[string]string{"io.example/tier": "edge"}},
			policy: "tier",
			why:    "matched policy tier (t.toml:21): annotation io.example/tier edge matches edge",
		},
		{
			name:   "id and name are ANDed",
			c:      Container{ID: "3f2a99", Name: "web-1"},
			policy: "by-id",
			why:    "matched policy by-id (t.toml:26): id 3f2a99 matches 3f2a*, name web-1 matches web-*",
		},
		{
			name:   "id without name",
			c:      Container{ID: "3f2a99", Name: "db-1"},
			policy: "",
		},
		{
			name:   "skip annotation beats every policy",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{SkipAnnotation: "true"}},
			policy: "",
			why:    "skipped: annotation lxmount.io/skip=true",
		},
		{
			name:   "skip annotation is case-insensitive",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{SkipAnnotation: "True"}},
			policy: "",
			why:    "skipped: annotation lxmount.io/skip=True",
		},
		{
			name:   "skip annotation false does not skip",
			c:      Container{CgroupPath: "/kubepods/pod1/abc", Annotations: map[string]string{SkipAnnotation: "false"}},
			policy: "kube",
			why:    "matched policy kube (t.toml:7): cgroup /kubepods/pod1/abc matches /kubepods/**",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, why := s.Match(tt.c)
			got := ""
			if p != nil {
				got = p.Name
			}
			if got != tt.policy {
				t.Errorf("matched %q, want %q (why: %s)", got, tt.policy, why)
			}
			if tt.why != "" && why != tt.why {
				t.Errorf("why:\n%s\nwant:\n%s", why, tt.why)
			}
		})
	}
}

func TestMatchEmptyMatchesEverything(t *testing.T) {
	s := testSet(t, `[[policy]]`, `name = "all"`, `[policy.match]`)
	p, why := s.Match(Container{})
	if p == nil || why != "matched policy all (t.toml:1): matches everything" {
		t.Errorf("got %v, %q", p, why)
	}
}

func TestMatchEmptyExcludeExcludesNothing(t *testing.T) {
	s := testSet(t, `[[policy]]`, `name = "all"`, `[policy.match.exclude]`)
	if p, why := s.Match(Container{CgroupPath: "/x"}); p == nil {
		t.Errorf("not matched: %s", why)
	}
}

func TestMatchNoPolicies(t *testing.T) {
	p, why := (&Set{}).Match(Container{CgroupPath: "/x"})
	if p != nil || why != "no policy matches: no policies are loaded" {
		t.Errorf("got %v, %q", p, why)
	}
}

func TestByName(t *testing.T) {
	s := testSet(t, `[[policy]]`, `name = "a"`, `[[policy]]`, `name = "b"`)
	if p, ok := s.ByName("b"); !ok || p != s.Policies[1] {
		t.Errorf("ByName(b) = %v, %v", p, ok)
	}
	if p, ok := s.ByName("c"); ok || p != nil {
		t.Errorf("ByName(c) = %v, %v", p, ok)
	}
}

func TestSkipped(t *testing.T) {
	tests := []struct {
		name  string
		annos map[string]string
		want  bool
	}{
		{"no annotations", nil, false},
		{"true", map[string]string{SkipAnnotation: "true"}, true},
		{"TRUE", map[string]string{SkipAnnotation: "TRUE"}, true},
		{"false", map[string]string{SkipAnnotation: "false"}, false},
		{"empty", map[string]string{SkipAnnotation: ""}, false},
		{"yes is not true", map[string]string{SkipAnnotation: "yes"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Container{Annotations: tt.annos}).Skipped(); got != tt.want {
				t.Errorf("Skipped() = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkMatch measures a reconcile-sized pass: 300 containers against
// ten policies, most of them falling through to the last.
func BenchmarkMatch(b *testing.B) {
	var lines []string
	for i := range 9 {
		lines = append(lines, `[[policy]]`, fmt.Sprintf(`name = "p%d"`, i),
			fmt.Sprintf(`match.cgroup = ["/machine.slice/libpod-%d*", "/system.slice/docker-%d*.scope"]`, i, i),
			`match.exclude.kubernetes_namespace = "kube-*"`)
	}
	lines = append(lines, `[[policy]]`, `name = "kube"`, `match.cgroup = ["/kubepods/**", "/kubepods.slice/**"]`)
	s := testSet(b, lines...)
	cs := make([]Container, 300)
	for i := range cs {
		cs[i] = Container{
			CgroupPath:  fmt.Sprintf("/kubepods/burstable/pod%04d/%064x", i, i),
			Runtime:     "containerd",
			Annotations: map[string]string{"io.kubernetes.cri.sandbox-namespace": "prod"},
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cs {
			if p, _ := s.Match(c); p == nil {
				b.Fatal("no match")
			}
		}
	}
}
