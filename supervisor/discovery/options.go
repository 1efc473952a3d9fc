package discovery

// Options say where Scan and Resolve look. The zero value scans /proc and
// the default runtime state directories.
type Options struct {
	// ProcRoot is the procfs to scan; "" means "/proc". Tests point it at a
	// fixture tree of <pid>/stat, <pid>/status, <pid>/cgroup and <pid>/ns/*
	// symlinks.
	ProcRoot string
	// Sources are the runtime state directories to read. nil means
	// DefaultSources(); an empty non-nil slice reads none. To add a directory,
	// e.g. a private `runc --root`, append to DefaultSources().
	Sources []Source
	// Cache, if not nil, keeps parsed runtime state files between Scans that
	// share it, so that unchanged files are not parsed again. A daemon that
	// scans periodically keeps one; nil parses every file every time.
	Cache *Cache
}

// Source is one runtime state directory.
type Source struct {
	// Format says how Dir is laid out.
	Format Format
	// Dir is the directory: a runc or crun --root, or containerd's
	// <state>/io.containerd.runtime.v2.task.
	Dir string
	// Runtime is reported as Container.Runtime for containers found here. ""
	// derives it: "podman" for the annotation io.container.manager=libpod,
	// "cri-o" for one with io.kubernetes.cri-o.ContainerID, "docker" for the
	// containerd namespace "moby", else "runc", "crun" or "containerd" after
	// Format.
	Runtime string
}

// Format is the layout of a runtime state directory.
type Format int

const (
	// RuncState is a runc --root: <Dir>/<id>/state.json, with the init's PID
	// and start time, and the annotations and bundle in config.labels.
	RuncState Format = iota + 1
	// CrunState is a crun --root: <Dir>/<id>/status (JSON: pid,
	// process-start-time, bundle) and <Dir>/<id>/config.json.
	CrunState
	// ContainerdTasks is containerd's task directory of the v2 shims:
	// <Dir>/<namespace>/<id>/ is the bundle, with config.json and init.pid.
	// The init's start time is not recorded; a PID is believed only if its
	// process started before init.pid was written.
	ContainerdTasks
)

// DefaultSources returns where the runtimes keep their state on a host with
// default settings, rootful:
//
//	/run/runc                                      runc; Podman and CRI-O when they use runc
//	/run/crun                                      crun; Podman and CRI-O when they use crun
//	/run/docker/runtime-runc/moby                  Docker's runc (runtime "docker")
//	/run/containerd/io.containerd.runtime.v2.task  containerd, its CRI plugin, and Docker (namespace moby)
//	/run/docker/containerd/daemon/io.containerd.runtime.v2.task
//	                                               the containerd dockerd starts itself when no
//	                                               system containerd runs (every Docker runtime,
//	                                               e.g. "lxmount", not only runc)
//	/run/k3s/containerd/io.containerd.runtime.v2.task  k3s's embedded containerd
//
// A directory that does not exist is skipped.
func DefaultSources() []Source {
	return []Source{
		{Format: RuncState, Dir: "/run/runc"},
		{Format: CrunState, Dir: "/run/crun"},
		{Format: RuncState, Dir: "/run/docker/runtime-runc/moby", Runtime: "docker"},
		{Format: ContainerdTasks, Dir: "/run/containerd/io.containerd.runtime.v2.task"},
		{Format: ContainerdTasks, Dir: "/run/docker/containerd/daemon/io.containerd.runtime.v2.task"},
		{Format: ContainerdTasks, Dir: "/run/k3s/containerd/io.containerd.runtime.v2.task"},
	}
}

// procRoot returns o.ProcRoot or its default.
func (o Options) procRoot() string {
	if o.ProcRoot == "" {
		return "/proc"
	}
	return o.ProcRoot
}

// sources returns o.Sources or its default.
func (o Options) sources() []Source {
	if o.Sources == nil {
		return DefaultSources()
	}
	return o.Sources
}
