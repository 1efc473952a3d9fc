package deploy_test

// Checks of kubernetes/daemonset.yaml: its documents decode strictly into
// the Kubernetes fields they use, the DaemonSet has what README.md says, and
// its ConfigMap loads with the configs package as the daemon loads it.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lxmount/lxmount/configs"
)

// The Kubernetes fields the manifests use, decoded strictly (unknown keys
// are errors), so that a misspelled field fails here instead of being
// dropped by a lenient client. Field names follow the core/v1 and apps/v1
// API.

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type k8sNamespace struct {
	k8sHeader `yaml:",inline"`
}

type k8sServiceAccount struct {
	k8sHeader                    `yaml:",inline"`
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
}

type k8sResourceQuota struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Hard          map[string]string `yaml:"hard"`
		ScopeSelector struct {
			MatchExpressions []struct {
				ScopeName string   `yaml:"scopeName"`
				Operator  string   `yaml:"operator"`
				Values    []string `yaml:"values"`
			} `yaml:"matchExpressions"`
		} `yaml:"scopeSelector"`
	} `yaml:"spec"`
}

type k8sConfigMap struct {
	k8sHeader `yaml:",inline"`
	Data      map[string]string `yaml:"data"`
}

type k8sVolumeMount struct {
	Name             string `yaml:"name"`
	MountPath        string `yaml:"mountPath"`
	ReadOnly         bool   `yaml:"readOnly"`
	MountPropagation string `yaml:"mountPropagation"`
}

type k8sVolume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string `yaml:"name"`
		Items []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	} `yaml:"configMap"`
	HostPath *struct {
		Path string `yaml:"path"`
		Type string `yaml:"type"`
	} `yaml:"hostPath"`
}

type k8sContainer struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Env             []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	SecurityContext struct {
		Privileged *bool `yaml:"privileged"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe *struct {
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
		InitialDelaySeconds int `yaml:"initialDelaySeconds"`
		PeriodSeconds       int `yaml:"periodSeconds"`
		TimeoutSeconds      int `yaml:"timeoutSeconds"`
		FailureThreshold    int `yaml:"failureThreshold"`
	} `yaml:"livenessProbe"`
	ReadinessProbe *struct {
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
		PeriodSeconds    int `yaml:"periodSeconds"`
		TimeoutSeconds   int `yaml:"timeoutSeconds"`
		FailureThreshold int `yaml:"failureThreshold"`
	} `yaml:"readinessProbe"`
	VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
}

type k8sDaemonSet struct {
	k8sHeader `yaml:",inline"`
	Spec      struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		UpdateStrategy struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
				MaxSurge       any `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"updateStrategy"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				ServiceAccountName            string `yaml:"serviceAccountName"`
				AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
				EnableServiceLinks            *bool  `yaml:"enableServiceLinks"`
				HostPID                       bool   `yaml:"hostPID"`
				PriorityClassName             string `yaml:"priorityClassName"`
				TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
				Tolerations                   []struct {
					Key      string `yaml:"key"`
					Operator string `yaml:"operator"`
					Value    string `yaml:"value"`
					Effect   string `yaml:"effect"`
				} `yaml:"tolerations"`
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []k8sVolume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// k8sManifest is daemonset.yaml, decoded.
type k8sManifest struct {
	Namespace      *k8sNamespace
	ServiceAccount *k8sServiceAccount
	ResourceQuota  *k8sResourceQuota
	ConfigMap      *k8sConfigMap
	DaemonSet      *k8sDaemonSet
}

// decodeManifest decodes every document of text strictly into the type of
// its kind; an unknown kind or a repeated one is an error.
func decodeManifest(text string) (*k8sManifest, error) {
	m := &k8sManifest{}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for i := 1; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var h k8sHeader
		if err := node.Decode(&h); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var dst any // a pointer to the field of m for h.Kind
		switch h.Kind {
		case "Namespace":
			dst = &m.Namespace
		case "ServiceAccount":
			dst = &m.ServiceAccount
		case "ResourceQuota":
			dst = &m.ResourceQuota
		case "ConfigMap":
			dst = &m.ConfigMap
		case "DaemonSet":
			dst = &m.DaemonSet
		default:
			return nil, fmt.Errorf("document %d: unexpected kind %q", i, h.Kind)
		}
		if !reflect.ValueOf(dst).Elem().IsNil() {
			return nil, fmt.Errorf("document %d: a second %s", i, h.Kind)
		}
		// Re-encode the document to decode it strictly: yaml.Node.Decode
		// has no KnownFields.
		raw, err := yaml.Marshal(&node)
		if err != nil {
			return nil, err
		}
		strict := yaml.NewDecoder(bytes.NewReader(raw))
		strict.KnownFields(true)
		if err := strict.Decode(dst); err != nil {
			return nil, fmt.Errorf("document %d (%s %s): %w", i, h.Kind, h.Metadata.Name, err)
		}
	}
	return m, nil
}

func TestKubernetes(t *testing.T) {
	m, err := decodeManifest(readFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Namespace == nil || m.ServiceAccount == nil || m.ResourceQuota == nil || m.ConfigMap == nil || m.DaemonSet == nil {
		t.Fatalf("daemonset.yaml lacks a kind: %+v", m)
	}
	ns := m.Namespace.Metadata.Name
	for _, h := range []k8sHeader{m.ServiceAccount.k8sHeader, m.ResourceQuota.k8sHeader, m.ConfigMap.k8sHeader, m.DaemonSet.k8sHeader} {
		if h.Metadata.Namespace != ns {
			t.Errorf("%s %s is in namespace %q, not %q", h.Kind, h.Metadata.Name, h.Metadata.Namespace, ns)
		}
	}
	for _, h := range []k8sHeader{m.Namespace.k8sHeader, m.ServiceAccount.k8sHeader, m.ResourceQuota.k8sHeader,
		m.ConfigMap.k8sHeader, m.DaemonSet.k8sHeader} {
		want := "v1"
		if h.Kind == "DaemonSet" {
			want = "apps/v1"
		}
		if h.APIVersion != want {
			t.Errorf("%s: apiVersion %q, want %q", h.Kind, h.APIVersion, want)
		}
	}
	if m.ServiceAccount.AutomountServiceAccountToken == nil || *m.ServiceAccount.AutomountServiceAccountToken {
		t.Error("ServiceAccount mounts a token; the daemon never uses one")
	}

	ds := m.DaemonSet
	spec := ds.Spec.Template.Spec
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	if !spec.HostPID {
		t.Error("hostPID is not true: the pod's /proc would not list the node's processes")
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	q := m.ResourceQuota.Spec.ScopeSelector.MatchExpressions
	if len(q) != 1 || q[0].ScopeName != "PriorityClass" || !slices.Contains(q[0].Values, spec.PriorityClassName) {
		t.Errorf("ResourceQuota does not cover priority class %s: %+v", spec.PriorityClassName, q)
	}
	if spec.ServiceAccountName != m.ServiceAccount.Metadata.Name {
		t.Errorf("serviceAccountName %q, the manifest defines %q", spec.ServiceAccountName, m.ServiceAccount.Metadata.Name)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("terminationGracePeriodSeconds %v: the daemon needs time to detach every container", g)
	}
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ds.Spec.UpdateStrategy.Type != "RollingUpdate" || ru == nil || fmt.Sprint(ru.MaxSurge) != "0" {
		t.Errorf("updateStrategy %+v: want RollingUpdate with maxSurge 0 (two daemons on a node compete)", ds.Spec.UpdateStrategy)
	}
	tolerateAll := false
	for _, tol := range spec.Tolerations {
		tolerateAll = tolerateAll || (tol.Operator == "Exists" && tol.Key == "" && tol.Effect == "")
	}
	if !tolerateAll {
		t.Errorf("tolerations %+v do not tolerate every taint", spec.Tolerations)
	}

	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image == "" || !slices.Contains([]string{"", "Always", "IfNotPresent", "Never"}, c.ImagePullPolicy) {
		t.Errorf("image %q, imagePullPolicy %q", c.Image, c.ImagePullPolicy)
	}
	if !slices.Equal(c.Command, []string{binPath, "daemon"}) || len(c.Args) > 0 {
		t.Errorf("command %q args %q, want [%s daemon]", c.Command, c.Args, binPath)
	}
	if c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("container is not privileged")
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	if cpu, ok := c.Resources.Limits["cpu"]; ok {
		t.Errorf("CPU limit %s: a throttled FUSE server stalls every /proc read on the node", cpu)
	}
	if p := c.LivenessProbe; p == nil || p.Exec == nil || !slices.Equal(p.Exec.Command, []string{binPath, "status"}) {
		t.Errorf("livenessProbe %+v: want exec [%s status]", p, binPath)
	} else if p.TimeoutSeconds < 1 || p.PeriodSeconds < p.TimeoutSeconds || p.FailureThreshold < 2 {
		t.Errorf("livenessProbe %+v: too eager, a restart detaches every container", *p)
	}

	// Every mount names a volume and every volume is mounted.
	volumes := map[string]k8sVolume{}
	for _, v := range spec.Volumes {
		if (v.ConfigMap == nil) == (v.HostPath == nil) {
			t.Errorf("volume %s: want exactly one of configMap, hostPath", v.Name)
		}
		if v.HostPath != nil && !slices.Contains([]string{"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}, v.HostPath.Type) {
			t.Errorf("volume %s: hostPath type %q", v.Name, v.HostPath.Type)
		}
		volumes[v.Name] = v
	}
	mounts := map[string]k8sVolumeMount{} // mountPath -> mount
	used := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			t.Errorf("volumeMount %s: no volume %q", vm.MountPath, vm.Name)
		}
		if !slices.Contains([]string{"", "None", "HostToContainer", "Bidirectional"}, vm.MountPropagation) {
			t.Errorf("volumeMount %s: mountPropagation %q", vm.MountPath, vm.MountPropagation)
		}
		used[vm.Name] = true
		mounts[vm.MountPath] = vm
	}
	for name := range volumes {
		if !used[name] {
			t.Errorf("volume %s is not mounted", name)
		}
	}
	// mountPath -> host path (or "configmap"), read-only, propagation.
	for _, w := range []struct {
		path, host string
		readOnly   bool
		prop       string
	}{
		{"/run", "/run", true, "HostToContainer"},
		{"/run/lxmount", "/run/lxmount", false, ""},
		{"/sys/fs/cgroup", "/sys/fs/cgroup", true, ""},
		{"/etc/lxmount", "configmap", true, ""},
		{"/run/nri", "/var/run/nri", true, ""},
	} {
		vm, ok := mounts[w.path]
		if !ok {
			t.Errorf("nothing mounted at %s", w.path)
			continue
		}
		v := volumes[vm.Name]
		host := "configmap"
		if v.HostPath != nil {
			host = v.HostPath.Path
		}
		if host != w.host || vm.ReadOnly != w.readOnly || vm.MountPropagation != w.prop {
			t.Errorf("%s: from %s, readOnly %t, propagation %q; want %s, %t, %q", w.path, host, vm.ReadOnly, vm.MountPropagation, w.host, w.readOnly, w.prop)
		}
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil && (v.HostPath.Path == "/proc" || strings.HasPrefix(v.HostPath.Path, "/proc/")) {
			t.Errorf("volume %s mounts the host's %s: hostPID already shows the node's processes", v.Name, v.HostPath.Path)
		}
	}

	t.Run("ConfigMap", func(t *testing.T) {
		checkConfigMap(t, m.ConfigMap, volumes[mounts["/etc/lxmount"].Name], mounts["/run/lxmount"].MountPath)
	})
}

// checkConfigMap writes the ConfigMap's files where the volume puts them,
// under a temporary /etc/lxmount, loads them as the daemon does, and
// checks the policies against the containers of a node.
func checkConfigMap(t *testing.T, cm *k8sConfigMap, vol k8sVolume, stateDir string) {
	if vol.ConfigMap == nil || vol.ConfigMap.Name != cm.Metadata.Name {
		t.Fatalf("/etc/lxmount is not the ConfigMap %s", cm.Metadata.Name)
	}
	etc := filepath.Join(t.TempDir(), "etc", "lxmount")
	for _, it := range vol.ConfigMap.Items {
		data, ok := cm.Data[it.Key]
		if !ok {
			t.Fatalf("volume item %s: no key %q in the ConfigMap", it.Path, it.Key)
		}
		p := filepath.Join(etc, it.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(it.Path, "policy.d/") {
			if _, err := configs.ParsePolicies(it.Key, []byte(data)); err != nil {
				t.Errorf("ConfigMap key %s: %v", it.Key, err)
			}
		}
	}
	set, err := configs.Load(filepath.Join(etc, "lxmount.toml"))
	if err != nil {
		t.Fatalf("the ConfigMap does not load as /etc/lxmount: %v", err)
	}
	if len(set.Files) != 1 {
		t.Errorf("policy files %q, want the ConfigMap's one", set.Files)
	}
	d := set.Daemon
	if d.StateDir != stateDir || filepath.Dir(d.Socket) != stateDir {
		t.Errorf("state_dir %s, socket %s: want both in %s, the hostPath that outlives the pod", d.StateDir, d.Socket, stateDir)
	}
	if d.ReconcileInterval <= 0 || d.ReconcileInterval > time.Minute {
		t.Errorf("reconcile_interval %s: new pods wait that long for their files", d.ReconcileInterval)
	}

	const (
		pod     = "/kubepods/burstable/pod6b3c1e6e/4f2a"
		podSD   = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6b3c1e6e.slice/cri-containerd-4f2a.scope"
		ctrdNS  = "io.kubernetes.cri.sandbox-namespace"
		ctrdTyp = "io.kubernetes.cri.container-type"
		crioNS  = "io.kubernetes.pod.namespace"
		crioTyp = "io.kubernetes.cri-o.ContainerType"
	)
	for _, tc := range []struct {
		name   string
		c      configs.Container
		policy string // "" = none
		files  bool   // policy mounts files
	}{
		{"containerd app container", configs.Container{CgroupPath: pod, Runtime: "containerd",
			Annotations: map[string]string{ctrdNS: "shop", ctrdTyp: "container"}}, "pods", true},
		{"CRI-O app container, systemd cgroup driver", configs.Container{CgroupPath: podSD, Runtime: "cri-o",
			Annotations: map[string]string{crioNS: "shop", crioTyp: "container"}}, "pods", true},
		{"containerd kube-system container", configs.Container{CgroupPath: pod, Runtime: "containerd",
			Annotations: map[string]string{ctrdNS: "kube-system", ctrdTyp: "container"}}, "", false},
		{"CRI-O kube-system container", configs.Container{CgroupPath: podSD, Runtime: "cri-o",
			Annotations: map[string]string{crioNS: "kube-system", crioTyp: "container"}}, "", false},
		{"containerd pod sandbox", configs.Container{CgroupPath: pod, Runtime: "containerd",
			Annotations: map[string]string{ctrdNS: "shop", ctrdTyp: "sandbox"}}, "pod-sandboxes-containerd", false},
		{"CRI-O pod sandbox", configs.Container{CgroupPath: podSD, Runtime: "cri-o",
			Annotations: map[string]string{crioNS: "shop", crioTyp: "sandbox"}}, "pod-sandboxes-cri-o", false},
		{"Docker container outside Kubernetes", configs.Container{CgroupPath: "/system.slice/docker-4f2a.scope", Runtime: "docker"}, "", false},
	} {
		p, why := set.Match(tc.c)
		name := ""
		if p != nil {
			name = p.Name
		}
		if name != tc.policy || (p != nil && (len(p.Files) > 0) != tc.files) {
			t.Errorf("%s: policy %q (%s), want %q with files %t", tc.name, name, why, tc.policy, tc.files)
		}
	}
}
