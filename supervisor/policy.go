package supervisor

import (
	"fmt"
	"strings"

	"github.com/lxmount/lxmount/configs"

	"github.com/lxmount/lxmount/sources"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

// Choice is what a policy decides for one container.
type Choice struct {
	Policy  string          // the policy's name
	Files   []string        // short names of the files to mount (sources.Files names)
	Options sources.Options // how they render
	Loadavg bool            // sample the load average for /proc/loadavg
	// Fingerprint changes when the files or options change: reconcile
	// re-applies a policy whose fingerprint differs from the attached one.
	Fingerprint string
}

// Policies decides, per container, which files are virtualized and how.
type Policies interface {
	// Choose returns the choice for container c. A non-empty name forces
	// the policy of that name (ErrUnknownPolicy if there is none). ok is
	// false when no policy matches; why says which rule decided.
	Choose(c discovery.Container, name string) (ch Choice, ok bool, why string, err error)
}

// defaultPolicies virtualizes every file with the default options.
type defaultPolicies struct{}

// DefaultPolicies is the built-in policy: every file, quota-aware CPU view.
func DefaultPolicies() Policies { return defaultPolicies{} }

func (defaultPolicies) Choose(c discovery.Container, name string) (Choice, bool, string, error) {
	if name != "" && name != "default" {
		return Choice{}, false, "", fmt.Errorf("policy %q: %w (valid: default)", name, ErrUnknownPolicy)
	}
	if matchView(c).Skipped() {
		return Choice{}, false, "skipped: annotation " + configs.SkipAnnotation + "=true", nil
	}
	p := configs.DefaultPolicy()
	return Choice{Policy: p.Name, Files: p.Files, Options: p.Options, Loadavg: p.Loadavg, Fingerprint: p.Fingerprint()}, true, "built-in default policy", nil
}

// setPolicies adapts a loaded configs.Set to Policies.
type setPolicies struct{ set *configs.Set }

// PoliciesFrom makes Policies of a loaded policy set.
func PoliciesFrom(set *configs.Set) Policies { return setPolicies{set} }

// matchView is what the policies see of a container.
func matchView(c discovery.Container) configs.Container {
	return configs.Container{CgroupPath: cgroupPath(c), Runtime: c.Runtime, ID: c.ID, Name: c.Name, Annotations: c.Annotations}
}

func (p setPolicies) Choose(c discovery.Container, name string) (Choice, bool, string, error) {
	mv := matchView(c)
	if mv.Skipped() {
		return Choice{}, false, "skipped: annotation " + configs.SkipAnnotation + "=true", nil
	}
	var pol *configs.Policy
	why := ""
	if name != "" {
		var ok bool
		if pol, ok = p.set.ByName(name); !ok {
			var names []string
			for _, q := range p.set.Policies {
				names = append(names, q.Name)
			}
			return Choice{}, false, "", fmt.Errorf("policy %q: %w (valid: %s)", name, ErrUnknownPolicy, strings.Join(names, ", "))
		}
		why = "policy " + name + " named by the caller"
	} else {
		pol, why = p.set.Match(mv)
		if pol == nil {
			return Choice{}, false, why, nil
		}
	}
	if len(pol.Files) == 0 {
		return Choice{}, false, why + "; the policy mounts no file", nil
	}
	return Choice{Policy: pol.Name, Files: pol.Files, Options: pol.Options, Loadavg: pol.Loadavg, Fingerprint: pol.Fingerprint()}, true, why, nil
}
