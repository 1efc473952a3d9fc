package configs

import (
	"slices"
	"strings"
	"testing"

	"github.com/lxmount/lxmount/sources"
)

// doc joins lines into a TOML document, so that positions in tests can be
// read off the line list.
func doc(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// allFiles are every short name in sources.Files() order.
func allFiles() []string {
	var out []string
	for _, f := range sources.Files() {
		out = append(out, f.Name)
	}
	return out
}

func without(names []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(drop, n) })
}

func TestParsePolicies(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		files   []string
		options sources.Options
		loadavg bool
	}{
		{
			name: "issue example: files omitted stay on",
			data: doc(
				`[[policy]]`,
				`name = "memonly"`,
				`[policy.match]`,
				`cgroup = ["/kubepods/**", "/machine.slice/*"]   # globs`,
				`[policy.files]                          # omitted files keep the default (on)`,
				`meminfo = true`,
				`cpuinfo = false`,
			),
			files:   without(allFiles(), "cpuinfo"),
			options: sources.DefaultOptions(),
			loadavg: true,
		},
		{
			name:    "name only: every file, default options",
			data:    doc(`[[policy]]`, `name = "all"`),
			files:   allFiles(),
			options: sources.DefaultOptions(),
			loadavg: true,
		},
		{
			name:    "pressure shorthand off",
			data:    doc(`[[policy]]`, `name = "p"`, `[policy.files]`, `pressure = false`),
			files:   without(allFiles(), "pressure_cpu", "pressure_memory", "pressure_io"),
			options: sources.DefaultOptions(),
			loadavg: true,
		},
		{
			name:    "pressure shorthand agreeing with a specific key",
			data:    doc(`[[policy]]`, `name = "p"`, `[policy.files]`, `pressure = false`, `pressure_io = false`),
			files:   without(allFiles(), "pressure_cpu", "pressure_memory", "pressure_io"),
			options: sources.DefaultOptions(),
			loadavg: true,
		},
		{
			name:    "loadavg disabled unmounts the file",
			data:    doc(`[[policy]]`, `name = "l"`, `[policy.loadavg]`, `enabled = false`),
			files:   without(allFiles(), "loadavg"),
			options: sources.DefaultOptions(),
		},
		{
			name:    "loadavg file off stops sampling",
			data:    doc(`[[policy]]`, `name = "l"`, `files = { loadavg = false }`),
			files:   without(allFiles(), "loadavg"),
			options: sources.DefaultOptions(),
		},
		{
			name:    "loadavg settings agreeing",
			data:    doc(`[[policy]]`, `name = "l"`, `loadavg.enabled = false`, `files.loadavg = false`),
			files:   without(allFiles(), "loadavg"),
			options: sources.DefaultOptions(),
		},
		{
			name: "every option",
			data: doc(
				`[[policy]]`,
				`name = "opts"`,
				`[policy.cpu]`,
				`view = "cpuset"`,
				`[policy.memory]`,
				`swap = "host"`,
				`[policy.uptime]`,
				`source = "host"`,
			),
			files:   allFiles(),
			options: sources.Options{CPUView: sources.CPUViewCpuset, Swap: sources.SwapHost, Uptime: sources.UptimeHost, Affinity: sources.AffinityHost},
			loadavg: true,
		},
		{
			name:    "swap none",
			data:    doc(`[[policy]]`, `name = "s"`, `memory = { swap = "none" }`),
			files:   allFiles(),
			options: sources.Options{CPUView: sources.CPUViewQuota, Swap: sources.SwapNone, Uptime: sources.UptimeAuto, Affinity: sources.AffinityHost},
			loadavg: true,
		},
		{
			name:    "all files off",
			data:    doc(`[[policy]]`, `name = "none"`, `[policy.files]`, `meminfo = false`, `cpuinfo = false`, `stat = false`, `uptime = false`, `loadavg = false`, `diskstats = false`, `swaps = false`, `cpu_online = false`, `pressure = false`),
			files:   nil,
			options: sources.DefaultOptions(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParsePolicies("p.toml", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 {
				t.Fatalf("got %d policies, want 1", len(ps))
			}
			p := ps[0]
			if !slices.Equal(p.Files, tt.files) {
				t.Errorf("Files = %v, want %v", p.Files, tt.files)
			}
			if p.Options != tt.options {
				t.Errorf("Options = %+v, want %+v", p.Options, tt.options)
			}
			if p.Loadavg != tt.loadavg {
				t.Errorf("Loadavg = %v, want %v", p.Loadavg, tt.loadavg)
			}
			if p.Source != "p.toml:1" {
				t.Errorf("Source = %q, want p.toml:1", p.Source)
			}
		})
	}
}

func TestParsePoliciesOrderAndSources(t *testing.T) {
	ps, err := ParsePolicies("dir/10-web.toml", doc(
		`# comment`,
		`[[policy]]`,
		`name = "first"`,
		``,
		`[[policy]]`,
		`name = "second"`,
		`[[policy]]`,
		`name = "third"`,
	))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name+"@"+p.Source)
	}
	want := []string{"first@dir/10-web.toml:2", "second@dir/10-web.toml:5", "third@dir/10-web.toml:7"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParsePoliciesEmptyFile(t *testing.T) {
	ps, err := ParsePolicies("empty.toml", doc(`# all commented out`))
	if err != nil || len(ps) != 0 {
		t.Errorf("got %v, %v; want no policies, no error", ps, err)
	}
}

// TestPolicyErrors covers every validation message of a policy file, with
// its exact position.
func TestPolicyErrors(t *testing.T) {
	const validFiles = "meminfo, cpuinfo, stat, uptime, loadavg, diskstats, swaps, slabinfo, cpu_online, sys_cpu, pressure_cpu, pressure_memory, pressure_io, pressure"
	const validMatch = "cgroup, runtime, id, name, kubernetes_namespace, kubernetes_pod, kubernetes_container, annotations"
	tests := []struct {
		name string
		data []byte
		want string // all errors, one per line
	}{
		{
			name: "toml syntax error",
			data: doc(`[[policy]]`, `name = "a"`, `cgroup = [`, `  "/x",,`, `]`),
			want: `p.toml:4:8: unexpected comma`,
		},
		{
			name: "unknown top-level key",
			data: doc(`policies = 1`),
			want: `p.toml:1:1: unknown key "policies" (valid: policy)`,
		},
		{
			name: "policy as a table",
			data: doc(`[policy]`, `name = "a"`),
			want: `p.toml:1:1: policy must be an array of tables, written [[policy]], not a table`,
		},
		{
			name: "missing name",
			data: doc(`[[policy]]`, `[policy.files]`, `meminfo = true`),
			want: `p.toml:1:1: [[policy]] has no name`,
		},
		{
			name: "empty name",
			data: doc(`[[policy]]`, `name = ""`),
			want: `p.toml:2:1: policy name is empty`,
		},
		{
			name: "name with a space",
			data: doc(`[[policy]]`, `name = "my policy"`),
			want: `p.toml:2:1: policy name "my policy" may only hold letters, digits, ".", "_" and "-"`,
		},
		{
			name: "name of the wrong type",
			data: doc(`[[policy]]`, `name = 7`),
			want: `p.toml:2:1: name in [[policy]] must be a string, not an integer`,
		},
		{
			name: "duplicate name in one file",
			data: doc(`[[policy]]`, `name = "web"`, `[[policy]]`, `  name = "web"`),
			want: `p.toml:4:3: duplicate policy name "web" (first defined at p.toml:1)`,
		},
		{
			name: "unknown key in policy",
			data: doc(`[[policy]]`, `name = "a"`, `descripton = "x"`),
			want: `p.toml:3:1: unknown key "descripton" in [[policy]] (valid: name, match, files, cpu, memory, loadavg, uptime)`,
		},
		{
			name: "unknown file in the second policy",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.files]`, `meminfo = true`, `[[policy]]`, `name = "b"`, `[policy.files]`, `memifo = true`),
			want: `p.toml:8:1: unknown file "memifo" in [policy.files] (valid: ` + validFiles + `)`,
		},
		{
			name: "file of the wrong type",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.files]`, `meminfo = "yes"`),
			want: `p.toml:4:1: meminfo in [policy.files] must be true or false, not a string`,
		},
		{
			name: "files not a table",
			data: doc(`[[policy]]`, `name = "a"`, `files = ["meminfo"]`),
			want: `p.toml:3:1: files in [[policy]] must be a table, not an array`,
		},
		{
			name: "pressure shorthand conflict",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.files]`, `pressure = false`, `pressure_io = true`),
			want: `p.toml:5:1: pressure_io = true conflicts with pressure = false in [policy.files]`,
		},
		{
			name: "loadavg conflict",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.loadavg]`, `enabled = false`, `[policy.files]`, `loadavg = true`),
			want: `p.toml:6:1: loadavg = true in [policy.files] conflicts with enabled = false in [policy.loadavg]`,
		},
		{
			name: "loadavg enabled of the wrong type",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.loadavg]`, `enabled = "no"`),
			want: `p.toml:4:1: enabled in [policy.loadavg] must be true or false, not a string`,
		},
		{
			name: "unknown key in loadavg",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.loadavg]`, `interval = "5s"`),
			want: `p.toml:4:1: unknown key "interval" in [policy.loadavg] (valid: enabled)`,
		},
		{
			name: "unknown cpu view",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.cpu]`, `view = "fast"`),
			want: `p.toml:4:1: unknown view "fast" in [policy.cpu] (valid: quota, cpuset)`,
		},
		{
			name: "unknown key in cpu",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.cpu]`, `veiw = "quota"`),
			want: `p.toml:4:1: unknown key "veiw" in [policy.cpu] (valid: view, affinity)`,
		},
		{
			name: "unknown cpu affinity",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.cpu]`, `affinity = "cpuset"`),
			want: `p.toml:4:1: unknown affinity "cpuset" in [policy.cpu] (valid: host, quota)`,
		},
		{
			name: "cpu not a table",
			data: doc(`[[policy]]`, `name = "a"`, `cpu = "quota"`),
			want: `p.toml:3:1: cpu in [[policy]] must be a table, not a string`,
		},
		{
			name: "unknown swap mode",
			data: doc(`[[policy]]`, `name = "a"`, `memory.swap = "zram"`),
			want: `p.toml:3:1: unknown swap "zram" in [policy.memory] (valid: cgroup, none, host)`,
		},
		{
			name: "unknown uptime source",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.uptime]`, `source = "boot"`),
			want: `p.toml:4:1: unknown source "boot" in [policy.uptime] (valid: auto, container, host)`,
		},
		{
			name: "match not a table",
			data: doc(`[[policy]]`, `name = "a"`, `match = "/kubepods/**"`),
			want: `p.toml:3:1: match in [[policy]] must be a table, not a string`,
		},
		{
			name: "unknown key in match",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `namespace = "prod"`),
			want: `p.toml:4:1: unknown key "namespace" in [policy.match] (valid: ` + validMatch + `, exclude)`,
		},
		{
			name: "exclude inside exclude",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match.exclude]`, `exclude = {}`),
			want: `p.toml:4:1: unknown key "exclude" in [policy.match.exclude] (valid: ` + validMatch + `)`,
		},
		{
			name: "exclude not a table",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `exclude = "/x"`),
			want: `p.toml:4:1: exclude in [policy.match] must be a table, not a string`,
		},
		{
			name: "relative cgroup glob in a list",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `cgroup = [`, `  "/ok/**",`, `  "kubepods/**",`, `]`),
			want: `p.toml:6:3: cgroup in [policy.match]: glob "kubepods/**" must start with "/" (cgroup paths are absolute, e.g. "/kubepods/**")`,
		},
		{
			name: "cgroup glob with a trailing slash",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `cgroup = "/kubepods/"`),
			want: `p.toml:4:1: cgroup in [policy.match]: glob "/kubepods/" must not end with "/" (write "/kubepods", or "/kubepods/**" for everything below)`,
		},
		{
			name: "bad glob",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `cgroup = ["/a", "/pod[0-9"]`),
			want: `p.toml:4:17: cgroup in [policy.match]: bad glob "/pod[0-9": unclosed "[" or dangling "\" in segment "pod[0-9"`,
		},
		{
			name: "double star inside a segment",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `name = "web**"`),
			want: `p.toml:4:1: name in [policy.match]: bad glob "web**": "**" must be a whole path segment, as in /kubepods/**`,
		},
		{
			name: "empty glob list",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `id = []`),
			want: `p.toml:4:1: id in [policy.match] is an empty array, which matches nothing (leave the key out to match anything)`,
		},
		{
			name: "glob list element of the wrong type",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `name = ["a", 2]`),
			want: `p.toml:4:14: name in [policy.match] must be a string or an array of strings, but element 2 is an integer`,
		},
		{
			name: "glob of the wrong type",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `kubernetes_namespace = true`),
			want: `p.toml:4:1: kubernetes_namespace in [policy.match] must be a string or an array of strings, not a boolean`,
		},
		{
			name: "unknown runtime",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `runtime = ["runc", "dockerr"]`),
			want: `p.toml:4:20: unknown runtime "dockerr" in [policy.match] (valid: containerd, cri-o, crun, docker, podman, runc)`,
		},
		{
			name: "annotations not a table",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `annotations = ["a=b"]`),
			want: `p.toml:4:1: annotations in [policy.match] must be a table, not an array`,
		},
		{
			name: "empty annotation name",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match.annotations]`, `"" = "x"`),
			want: `p.toml:4:1: empty annotation name in [policy.match.annotations]`,
		},
		{
			name: "bad annotation glob in an inline table",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.match]`, `annotations = { "io.example/tier" = "[front" }`),
			want: `p.toml:4:17: "io.example/tier" in [policy.match.annotations]: bad glob "[front": unclosed "[" or dangling "\" in segment "[front"`,
		},
		{
			name: "several errors in position order",
			data: doc(`[[policy]]`, `name = "a"`, `[policy.files]`, `zz = true`, `aa = true`, `[policy.cpu]`, `view = 1`),
			want: `p.toml:4:1: unknown file "zz" in [policy.files] (valid: ` + validFiles + `)` + "\n" +
				`p.toml:5:1: unknown file "aa" in [policy.files] (valid: ` + validFiles + `)` + "\n" +
				`p.toml:7:1: view in [policy.cpu] must be a string, not an integer`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParsePolicies("p.toml", tt.data)
			if err == nil {
				t.Fatalf("no error, got %d policies", len(ps))
			}
			if ps != nil {
				t.Errorf("got policies %v along with the error", ps)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	ps, err := ParsePolicies("p.toml", doc(
		`[[policy]]`, `name = "a"`,
		`[[policy]]`, `name = "renamed"`, `match.cgroup = "/x"`,
		`[[policy]]`, `name = "swapless"`, `memory.swap = "none"`,
		`[[policy]]`, `name = "fewer"`, `files.diskstats = false`,
		`[[policy]]`, `name = "affinity"`, `cpu.affinity = "quota"`, `cpu.view = "cpuset"`,
	))
	if err != nil {
		t.Fatal(err)
	}
	a, renamed, swapless, fewer := ps[0].Fingerprint(), ps[1].Fingerprint(), ps[2].Fingerprint(), ps[3].Fingerprint()
	if a != DefaultPolicy().Fingerprint() {
		t.Errorf("a name-only policy differs from the default: %s vs %s", a, DefaultPolicy().Fingerprint())
	}
	if a != renamed {
		t.Errorf("name and match changed the fingerprint: %s vs %s", a, renamed)
	}
	if a == swapless || a == fewer || swapless == fewer {
		t.Errorf("options or files did not change the fingerprint: %s, %s, %s", a, swapless, fewer)
	}
	if o := ps[4].Options; o.Affinity != sources.AffinityQuota || o.CPUView != sources.CPUViewCpuset || ps[4].Fingerprint() == a {
		t.Errorf("cpu.affinity = quota, cpu.view = cpuset: options %+v, fingerprint %s", o, ps[4].Fingerprint())
	}
	if ps[0].Options.Affinity != sources.AffinityHost {
		t.Errorf("default affinity %q, want host", ps[0].Options.Affinity)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.Name != "default" || p.Source != "embedded" || !p.Loadavg {
		t.Errorf("got %+v", p)
	}
	if !slices.Equal(p.Files, allFiles()) {
		t.Errorf("Files = %v, want every file", p.Files)
	}
	if p.Options != sources.DefaultOptions() {
		t.Errorf("Options = %+v", p.Options)
	}
	if !p.matches(&Container{}) {
		t.Error("default does not match an empty container")
	}
	if DefaultPolicy() == p {
		t.Error("DefaultPolicy returns a shared value")
	}
}
