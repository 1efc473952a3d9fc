package discovery

// Container is one container found by Scan or Resolve: a mount namespace
// other than the host's, identified by the process that started it.
type Container struct {
	// InitPID is the host PID of the container's init, chosen as the package
	// documentation describes: the PID the runtime recorded, else the init of
	// the container's pid namespace, else the oldest process that entered the
	// pid namespace from outside (a container sharing another container's pid
	// namespace). For a process in its own mount namespace but the host's pid
	// namespace that no runtime recorded (Resolve only) it is the oldest
	// process of that mount namespace.
	InitPID int
	// InitStart is InitPID's start time in clock ticks since boot (field 22 of
	// /proc/<pid>/stat). InitPID together with InitStart identifies the process
	// even after its PID is reused.
	InitStart uint64
	// MountNS is the inode number of the container's mount namespace, the
	// number in readlink /proc/<InitPID>/ns/mnt = "mnt:[MountNS]".
	MountNS uint64
	// PIDNS is the inode number of InitPID's pid namespace, as in
	// "pid:[PIDNS]". It is the host's for a container sharing the host's pid
	// namespace.
	PIDNS uint64
	// CgroupV1 maps each cgroup v1 hierarchy of /proc/<InitPID>/cgroup to
	// InitPID's path in it, relative to the hierarchy's root, e.g. "memory" ->
	// "/lxmount-test-x". Co-mounted controllers ("cpu,cpuacct") get one key
	// each; named hierarchies keep their "name=" prefix ("name=systemd").
	// Empty on a host without v1 hierarchies.
	CgroupV1 map[string]string
	// CgroupV2 is InitPID's path in the unified hierarchy (the "0::" line),
	// "" if the host has none.
	CgroupV2 string

	// Runtime names what started the container, taken from where its state
	// was found: "runc", "crun", "containerd", "docker", "podman", "cri-o" or
	// the Runtime of a custom Source. "" when no runtime state matched.
	Runtime string
	// ID is the runtime's container id; "" when unknown.
	ID string
	// Name is the human name: from the Kubernetes or nerdctl annotations,
	// from Podman's container store, from Docker's
	// <data-root>/containers/<id>/config.v2.json (`docker run --name web`:
	// "web", without Docker's leading "/"), else the ID. "" when unknown.
	Name string
	// Bundle is the OCI bundle directory (the one holding config.json), ""
	// when unknown.
	Bundle string
	// Annotations are the OCI annotations of the container's config.json (for
	// Kubernetes: the pod's namespace and name, the container's name); nil when
	// unknown.
	Annotations map[string]string
}

// Annotation keys the Kubernetes CRI runtimes put on a container's OCI spec.
// containerd's CRI plugin writes the io.kubernetes.cri.* keys; CRI-O writes
// the kubelet's io.kubernetes.pod.* and io.kubernetes.container.name labels
// as annotations.
const (
	annCRIContainerType   = "io.kubernetes.cri.container-type" // "sandbox" or "container"
	annCRIContainerName   = "io.kubernetes.cri.container-name"
	annCRISandboxName     = "io.kubernetes.cri.sandbox-name"
	annCRISandboxNS       = "io.kubernetes.cri.sandbox-namespace"
	annKubeContainerName  = "io.kubernetes.container.name"
	annKubePodName        = "io.kubernetes.pod.name"
	annKubePodNamespace   = "io.kubernetes.pod.namespace"
	annCRIOContainerType  = "io.kubernetes.cri-o.ContainerType" // "sandbox" or "container"
	annCRIOContainerID    = "io.kubernetes.cri-o.ContainerID"
	annNerdctlName        = "nerdctl/name"
	annContainerManager   = "io.container.manager" // "libpod" for Podman
	containerManagerLibpd = "libpod"
)

// Pod returns the Kubernetes namespace and pod name from c's annotations
// (containerd's io.kubernetes.cri.sandbox-* keys, else CRI-O's
// io.kubernetes.pod.* keys), or "", "" for a container that is not part of
// a Kubernetes pod.
func (c Container) Pod() (namespace, name string) {
	return first(c.Annotations, annCRISandboxNS, annKubePodNamespace),
		first(c.Annotations, annCRISandboxName, annKubePodName)
}

// nameFromAnnotations returns the container name a Kubernetes runtime or
// nerdctl recorded in the annotations: the container's name, or for a pod
// sandbox (the pause container) the pod's name. "" if there is none.
func nameFromAnnotations(ann map[string]string) string {
	if n := first(ann, annCRIContainerName, annKubeContainerName, annNerdctlName); n != "" {
		return n
	}
	if ann[annCRIContainerType] == "sandbox" || ann[annCRIOContainerType] == "sandbox" {
		return first(ann, annCRISandboxName, annKubePodName)
	}
	return ""
}

// first returns the value of the first of keys that is set and non-empty in m.
func first(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}
