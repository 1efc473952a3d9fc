package configs

import (
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// SkipAnnotation is the OCI annotation that keeps lxmount away from a
// container without editing any policy: a container whose annotation has
// the value "true" (in any case) is never attached, whatever the policies
// say. Match applies it; attach --policy NAME must check Skipped.
const SkipAnnotation = "lxmount.io/skip"

// Container is what policy matching sees of one container. Fields the
// runtime does not reveal are left empty; a criterion on an empty field
// does not hold.
type Container struct {
	// CgroupPath is the container's cgroup path relative to the hierarchy
	// root, e.g. "/kubepods/burstable/pod<uid>/<id>". On a cgroup v1 host it
	// is the memory controller's path.
	CgroupPath string
	// Runtime is the engine that created the container, as discovery
	// reports it: "containerd", "cri-o", "crun", "docker", "podman" or "runc".
	Runtime string
	// ID is the runtime's container ID.
	ID string
	// Name is the runtime's container name.
	Name string
	// Annotations are the OCI annotations of the container's bundle.
	Annotations map[string]string
}

// Skipped reports whether c carries SkipAnnotation = "true".
func (c Container) Skipped() bool {
	return strings.EqualFold(c.Annotations[SkipAnnotation], "true")
}

// field names a Container field a criterion reads.
type field uint8

const (
	fieldCgroup field = iota
	fieldRuntime
	fieldID
	fieldName
	fieldAnnotation
)

// criterion is one key of [policy.match]: it holds when the container's
// field matches any of the globs.
type criterion struct {
	label string   // as shown in explanations, e.g. "cgroup"
	field field    // the Container field read
	annos []string // for fieldAnnotation: annotation keys, the first present is used
	globs []glob
}

// subject returns the value the criterion tests, and whether it is known.
func (cr *criterion) subject(c *Container) (string, bool) {
	switch cr.field {
	case fieldCgroup:
		return c.CgroupPath, c.CgroupPath != ""
	case fieldRuntime:
		return c.Runtime, c.Runtime != ""
	case fieldID:
		return c.ID, c.ID != ""
	case fieldName:
		return c.Name, c.Name != ""
	}
	for _, k := range cr.annos {
		if v, ok := c.Annotations[k]; ok {
			return v, true
		}
	}
	return "", false
}

// test returns the index of the first glob matching c's subject, or -1.
func (cr *criterion) test(c *Container) int {
	s, ok := cr.subject(c)
	if !ok {
		return -1
	}
	for i := range cr.globs {
		if cr.globs[i].match(s) {
			return i
		}
	}
	return -1
}

// explain says why cr holds or fails for c.
func (cr *criterion) explain(c *Container) string {
	s, ok := cr.subject(c)
	switch i := cr.test(c); {
	case !ok:
		return cr.label + " unknown"
	case i >= 0:
		return cr.label + " " + s + " matches " + cr.globs[i].text
	case len(cr.globs) == 1:
		return cr.label + " " + s + " does not match " + cr.globs[0].text
	default:
		texts := make([]string, len(cr.globs))
		for j := range cr.globs {
			texts[j] = cr.globs[j].text
		}
		return cr.label + " " + s + " matches none of " + strings.Join(texts, ", ")
	}
}

// all reports whether every criterion holds for c; -1, or the index of the
// first that fails.
func all(crs []criterion, c *Container) int {
	for i := range crs {
		if crs[i].test(c) < 0 {
			return i
		}
	}
	return -1
}

// matches reports whether p applies to c, SkipAnnotation aside.
func (p *Policy) matches(c *Container) bool {
	return all(p.match, c) < 0 && (len(p.exclude) == 0 || all(p.exclude, c) >= 0)
}

// explain says why p applies to c or not.
func (p *Policy) explain(c *Container) string {
	if i := all(p.match, c); i >= 0 {
		return p.match[i].explain(c)
	}
	if len(p.exclude) > 0 && all(p.exclude, c) < 0 {
		why := make([]string, len(p.exclude))
		for i := range p.exclude {
			why[i] = p.exclude[i].explain(c)
		}
		return "excluded: " + strings.Join(why, ", ")
	}
	if len(p.match) == 0 {
		return "matches everything"
	}
	why := make([]string, len(p.match))
	for i := range p.match {
		why[i] = p.match[i].explain(c)
	}
	return strings.Join(why, ", ")
}

// Match returns the first policy that applies to c, or nil when c carries
// SkipAnnotation or no policy applies; a container without a policy is
// left alone. why explains the decision for logs and `lxmount status`.
func (s *Set) Match(c Container) (p *Policy, why string) {
	if c.Skipped() {
		return nil, "skipped: annotation " + SkipAnnotation + "=" + c.Annotations[SkipAnnotation]
	}
	for _, p := range s.Policies {
		if p.matches(&c) {
			return p, "matched policy " + p.Name + " (" + p.Source + "): " + p.explain(&c)
		}
	}
	if len(s.Policies) == 0 {
		return nil, "no policy matches: no policies are loaded"
	}
	why = "no policy matches:"
	for i, p := range s.Policies {
		if i > 0 {
			why += ";"
		}
		why += " " + p.Name + ": " + p.explain(&c)
	}
	return nil, why
}

// ByName returns the loaded policy called name, for attach --policy NAME.
func (s *Set) ByName(name string) (*Policy, bool) {
	for _, p := range s.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// matchKeys are the criteria of [policy.match] in explanation order;
// [policy.match.exclude] takes the same except "exclude".
var matchKeys = []string{"cgroup", "runtime", "id", "name",
	"kubernetes_namespace", "kubernetes_pod", "kubernetes_container", "annotations", "exclude"}

// runtimes are the valid values of runtime, as discovery reports them.
var runtimes = []string{"containerd", "cri-o", "crun", "docker", "podman", "runc"}

// kubernetesAnnotations maps a friendly key to the annotations that carry
// it: CRI-O's (and the kubelet's) names first, then containerd's CRI names.
func kubernetesAnnotations(key string) []string {
	switch key {
	case "kubernetes_namespace":
		return []string{"io.kubernetes.pod.namespace", "io.kubernetes.cri.sandbox-namespace"}
	case "kubernetes_pod":
		return []string{"io.kubernetes.pod.name", "io.kubernetes.cri.sandbox-name"}
	case "kubernetes_container":
		return []string{"io.kubernetes.container.name", "io.kubernetes.cri.container-name"}
	}
	return nil
}

// criteria decodes [policy.match] (withExclude) or [policy.match.exclude].
func (d *decoder) criteria(key toml.Key, m map[string]any, withExclude bool) (match, exclude []criterion) {
	valid := matchKeys
	if !withExclude {
		valid = valid[:len(valid)-1]
	}
	d.keys(key, m, "key", valid)
	for _, name := range valid {
		v, ok := m[name]
		if !ok {
			continue
		}
		k := child(key, name)
		switch name {
		case "exclude":
			if t, ok := d.table(k, v); ok {
				exclude, _ = d.criteria(k, t, false)
			}
		case "annotations":
			t, ok := d.table(k, v)
			if !ok {
				break
			}
			annos := make([]string, 0, len(t))
			for a := range t {
				annos = append(annos, a)
			}
			slices.Sort(annos)
			for _, a := range annos {
				ak := child(k, a)
				if a == "" {
					d.errorf(ak, -1, "empty annotation name%s", where(ak))
					continue
				}
				if cr, ok := d.criterion(ak, t[a], "annotation "+a, fieldAnnotation); ok {
					cr.annos = []string{a}
					match = append(match, cr)
				}
			}
		default:
			f := fieldAnnotation
			switch name {
			case "cgroup":
				f = fieldCgroup
			case "runtime":
				f = fieldRuntime
			case "id":
				f = fieldID
			case "name":
				f = fieldName
			}
			annos := kubernetesAnnotations(name)
			if cr, ok := d.criterion(k, v, name, f); ok {
				cr.annos = annos
				match = append(match, cr)
			}
		}
	}
	return match, exclude
}

// criterion decodes the globs of one match key.
func (d *decoder) criterion(key toml.Key, v any, label string, f field) (criterion, bool) {
	texts, elems, ok := d.stringList(key, v)
	cr := criterion{label: label, field: f}
	name := leaf(key) + where(key)
	for i, text := range texts {
		switch {
		case f == fieldRuntime:
			if !slices.Contains(runtimes, text) {
				d.errorf(key, elems[i], "unknown runtime %q%s (valid: %s)", text, where(key), strings.Join(runtimes, ", "))
				ok = false
				continue
			}
		case f == fieldCgroup && !strings.HasPrefix(text, "/"):
			d.errorf(key, elems[i], "%s: glob %q must start with \"/\" (cgroup paths are absolute, e.g. \"/kubepods/**\")", name, text)
			ok = false
			continue
		case f == fieldCgroup && len(text) > 1 && strings.HasSuffix(text, "/"):
			d.errorf(key, elems[i], "%s: glob %q must not end with \"/\" (write %q, or %q for everything below)", name, text, strings.TrimRight(text, "/"), text+"**")
			ok = false
			continue
		}
		g, err := compileGlob(text)
		if err != nil {
			d.errorf(key, elems[i], "%s: bad glob %q: %v", name, text, err)
			ok = false
			continue
		}
		cr.globs = append(cr.globs, g)
	}
	return cr, ok
}
