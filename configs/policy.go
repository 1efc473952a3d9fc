package configs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lxmount/lxmount/sources"
)

// Policy decides, for the containers it matches, which virtual files are
// mounted and how they render. Policies come from [[policy]] tables in the
// policy directory, or from DefaultPolicy when there are none.
type Policy struct {
	// Name identifies the policy in logs, in Match's explanation and for
	// attach --policy NAME. Unique across all loaded files.
	Name string
	// Source is "file:line" of the policy's [[policy]] header, or
	// "embedded" for DefaultPolicy.
	Source string
	// Files are the short names (sources.File.Name) of the files to mount,
	// in sources.Files() order. It may be empty: the policy then claims
	// its containers without mounting anything, which is how a policy
	// placed early exempts a group of containers from later ones.
	Files []string
	// Options are the rendering choices ([policy.cpu], [policy.memory],
	// [policy.uptime]).
	Options sources.Options
	// Loadavg reports whether the container's load average is sampled. It
	// is true exactly when Files holds "loadavg".
	Loadavg bool

	match   []criterion // all must hold; none means everything
	exclude []criterion // when non-empty and all hold, the policy does not match
}

// DefaultPolicy returns the embedded policy "default": it matches every
// container and mounts every file with sources.DefaultOptions(). It applies
// only when the policy directory holds no policy file.
func DefaultPolicy() *Policy {
	p := &Policy{Name: "default", Source: "embedded", Options: sources.DefaultOptions(), Loadavg: true}
	for _, f := range sources.Files() {
		p.Files = append(p.Files, f.Name)
	}
	return p
}

// Fingerprint summarizes what a matched container sees: its files and
// rendering options, not the policy's name or match rules. After a reload,
// an attached container whose policy's fingerprint changed needs its files
// remounted or re-rendered; one whose fingerprint is unchanged does not.
func (p *Policy) Fingerprint() string {
	return fmt.Sprintf("files=%s;cpu=%s;swap=%s;uptime=%s;affinity=%s",
		strings.Join(p.Files, ","), p.Options.CPUView, p.Options.Swap, p.Options.Uptime, p.Options.Affinity)
}

// policyKeys are the keys a [[policy]] table may hold.
var policyKeys = []string{"name", "match", "files", "cpu", "memory", "loadavg", "uptime"}

// ParsePolicies parses the [[policy]] tables of one policy file. name is
// used in positions and Policy.Source; data is the file's content. All
// problems are reported, each as an *Error, joined.
func ParsePolicies(name string, data []byte) ([]*Policy, error) {
	return parsePolicies(name, data, make(map[string]*Policy))
}

// parsePolicies is ParsePolicies with the policies of earlier files in seen,
// so that duplicate names across files are reported. It adds its own.
func parsePolicies(file string, data []byte, seen map[string]*Policy) (_ []*Policy, err error) {
	defer recoverParse(file, &err)
	doc, d, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	d.keys(nil, doc, "key", []string{"policy"})
	var out []*Policy
	if v, ok := doc["policy"]; ok {
		tables, ok := v.([]map[string]any)
		if !ok {
			d.wrongType(toml.Key{"policy"}, v, "an array of tables, written [[policy]]")
		}
		for i, t := range tables {
			d.index = i
			p := d.policy(t)
			if p == nil {
				continue
			}
			if first, dup := seen[p.Name]; dup {
				d.errorf(toml.Key{"policy", "name"}, -1, "duplicate policy name %q (first defined at %s)", p.Name, first.Source)
				continue
			}
			seen[p.Name] = p
			out = append(out, p)
		}
		d.index = -1
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// policy decodes one [[policy]] table; nil when its name is unusable.
// Other problems are recorded and the policy is still returned, so that
// duplicate names are found in files with other errors too.
func (d *decoder) policy(t map[string]any) *Policy {
	base := toml.Key{"policy"}
	p := &Policy{Source: d.source(base), Options: sources.DefaultOptions()}
	var (
		files      map[string]bool // explicit [policy.files] settings
		loadavg    bool            // [policy.loadavg] enabled
		hasLoadavg bool
	)
	if _, ok := t["name"]; !ok {
		d.errorf(base, -1, "[[policy]] has no name")
	}
	for _, name := range d.keys(base, t, "key", policyKeys) {
		key := child(base, name)
		v := t[name]
		switch name {
		case "name":
			s, ok := d.str(key, v)
			switch {
			case !ok:
			case s == "":
				d.errorf(key, -1, "policy name is empty")
			case !validName(s):
				d.errorf(key, -1, "policy name %q may only hold letters, digits, \".\", \"_\" and \"-\"", s)
			default:
				p.Name = s
			}
		case "match":
			if m, ok := d.table(key, v); ok {
				p.match, p.exclude = d.criteria(key, m, true)
			}
		case "files":
			if m, ok := d.table(key, v); ok {
				files = d.files(key, m)
			}
		case "cpu":
			if m, ok := d.table(key, v); ok {
				for _, k := range d.keys(key, m, "key", []string{"view", "affinity"}) {
					switch k {
					case "view":
						if s, ok := d.enum(child(key, k), m[k], []string{string(sources.CPUViewQuota), string(sources.CPUViewCpuset)}); ok {
							p.Options.CPUView = sources.CPUView(s)
						}
					case "affinity":
						if s, ok := d.enum(child(key, k), m[k], []string{string(sources.AffinityHost), string(sources.AffinityQuota)}); ok {
							p.Options.Affinity = sources.AffinityMode(s)
						}
					}
				}
			}
		case "memory":
			if s, ok := d.option(key, v, "swap", string(sources.SwapCgroup), string(sources.SwapNone), string(sources.SwapHost)); ok {
				p.Options.Swap = sources.SwapMode(s)
			}
		case "uptime":
			if s, ok := d.option(key, v, "source", string(sources.UptimeAuto), string(sources.UptimeContainer), string(sources.UptimeHost)); ok {
				p.Options.Uptime = sources.UptimeSource(s)
			}
		case "loadavg":
			if m, ok := d.table(key, v); ok {
				for _, k := range d.keys(key, m, "key", []string{"enabled"}) {
					loadavg, hasLoadavg = d.boolean(child(key, k), m[k])
				}
			}
		}
	}
	if on, ok := files["loadavg"]; ok && hasLoadavg && on != loadavg {
		d.errorf(toml.Key{"policy", "files", "loadavg"}, -1,
			"loadavg = %t in [policy.files] conflicts with enabled = %t in [policy.loadavg]", on, loadavg)
	}
	for _, f := range sources.Files() {
		on, ok := files[f.Name]
		if !ok {
			on = f.Name != "loadavg" || !hasLoadavg || loadavg
			if f.Follows != "" {
				// Not named: as the file it extends (sys_cpu as cpu_online).
				on = slices.Contains(p.Files, f.Follows)
			}
		}
		if on {
			p.Files = append(p.Files, f.Name)
			p.Loadavg = p.Loadavg || f.Name == "loadavg"
		}
	}
	if p.Name == "" {
		return nil
	}
	return p
}

// option decodes a one-key table such as [policy.cpu] whose only key, name,
// holds one of valid. ok is false when the key is absent or invalid.
func (d *decoder) option(key toml.Key, v any, name string, valid ...string) (string, bool) {
	m, ok := d.table(key, v)
	if !ok {
		return "", false
	}
	d.keys(key, m, "key", []string{name})
	val, ok := m[name]
	if !ok {
		return "", false
	}
	return d.enum(child(key, name), val, valid)
}

// files decodes [policy.files] into explicit on/off settings per short
// name, expanding the "pressure" shorthand.
func (d *decoder) files(key toml.Key, m map[string]any) map[string]bool {
	var valid, pressure []string
	for _, f := range sources.Files() {
		valid = append(valid, f.Name)
		if strings.HasPrefix(f.Name, "pressure_") {
			pressure = append(pressure, f.Name)
		}
	}
	valid = append(valid, "pressure")
	out := make(map[string]bool)
	for _, name := range d.keys(key, m, "file", valid) {
		if on, ok := d.boolean(child(key, name), m[name]); ok {
			out[name] = on
		}
	}
	all, ok := out["pressure"]
	if !ok {
		return out
	}
	delete(out, "pressure")
	for _, name := range pressure {
		on, set := out[name]
		if set && on != all {
			d.errorf(child(key, name), -1, "%s = %t conflicts with pressure = %t in [policy.files]", name, on, all)
		}
		out[name] = all
	}
	return out
}

// validName reports whether s is usable as a policy name on a command line
// and in logs.
func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}
