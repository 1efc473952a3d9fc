package supervisor

import (
	"fmt"
	"time"
)

// The control API is HTTP+JSON on a unix socket. These types are its wire
// contract: `lxmount status --json` prints Status as it is, so fields are
// only ever added, never renamed or removed.
//
//	GET  /v1/status           -> Status
//	POST /v1/attach  Attach   -> AttachResult
//	POST /v1/detach  Detach   -> DetachResult
//
// A failed call answers a non-2xx status with an Error body.

// Status is the whole daemon state.
type Status struct {
	Daemon     DaemonInfo      `json:"daemon"`
	Containers []ContainerInfo `json:"containers"`
}

// DaemonInfo describes the running daemon.
type DaemonInfo struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Socket    string    `json:"socket"`
	StateDir  string    `json:"state_dir"`
	// Resource use, to watch the per-container cost.
	Goroutines int `json:"goroutines"`
	Threads    int `json:"threads"`
	FDs        int `json:"fds"`
	// LastReconcile is the daemon's last reconcile, nil before the first.
	LastReconcile *LastReconcile `json:"last_reconcile,omitempty"`
	// PolicyError is why the last policy reload failed ("" when it did
	// not); the daemon keeps the last good policies meanwhile.
	PolicyError string `json:"policy_error,omitempty"`
	// Hooks counts the attaches OCI hooks asked for.
	Hooks HookStats `json:"hooks"`
	// Spares is how many FUSE instances are mounted ready for the next
	// attach (0 or 1; see Config.Spares).
	Spares int `json:"spares"`
	// Events counts the event watch's work (events = true).
	Events EventStats `json:"events"`
}

// LastReconcile is the outcome of the last reconcile.
type LastReconcile struct {
	At      time.Time `json:"at"`
	Summary Summary   `json:"summary"`
	Took    string    `json:"took"`
	Error   string    `json:"error,omitempty"`
}

// ContainerInfo is one attached container.
type ContainerInfo struct {
	ID         string            `json:"id"`                   // short container id
	Runtime    string            `json:"runtime,omitempty"`    // runc, containerd, ... when known
	Name       string            `json:"name,omitempty"`       // container name when known
	InitPID    int               `json:"init_pid"`             // host PID of the container's init
	InitStart  uint64            `json:"init_start"`           // its start time, clock ticks since boot
	MountNS    uint64            `json:"mount_ns"`             // inode of its mount namespace
	Cgroup     string            `json:"cgroup"`               // cgroup path (v1 memory controller's, else unified)
	CgroupDirs map[string]string `json:"cgroup_dirs"`          // controller ("unified" for v2) -> directory
	Policy     string            `json:"policy"`               // policy that chose the files
	Files      []string          `json:"files"`                // short names of the mounted files
	Targets    []string          `json:"targets"`              // their paths inside the container
	Refused    map[string]string `json:"refused,omitempty"`    // files not mounted -> why
	AttachedAt time.Time         `json:"attached_at"`          // when it was attached
	Reads      uint64            `json:"reads"`                // renders served (reads at offset 0)
	Errors     uint64            `json:"errors"`               // renders that failed
	LastError  string            `json:"last_error,omitempty"` // the last error seen, if any
	// Health is "healthy", "degraded: <why>" (files served, some targets
	// refused and retried by reconcile) or "broken: <why>" (a target not
	// served, the cgroup removed, the FUSE connection ended) as of
	// CheckedAt: checked at attach, by every reconcile, and by status
	// when older than a second (supervisor/health.go).
	Health    string    `json:"health"`
	CheckedAt time.Time `json:"checked_at"`
	// Uptime is what /proc/uptime shows: "container" or "host" (a
	// policy's "auto" as resolved at the first attach, kept by recovery
	// and reapply: sources.ResolveUptime).
	Uptime string `json:"uptime,omitempty"`
}

// Attach asks to attach the container that PID belongs to.
type Attach struct {
	PID    int    `json:"pid"`
	Policy string `json:"policy,omitempty"` // policy name; "" lets the policies decide
	// OCI is set by `lxmount oci-hook`: the container an OCI runtime is
	// creating, PID its process (the OCI state's pid).
	OCI *OCIContainer `json:"oci,omitempty"`
}

// OCIContainer is what an OCI runtime hook knows of the container it runs
// for: its state (id, bundle, annotations) and its config.json (root).
type OCIContainer struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	// Rootfs is the absolute path of the container's root file system in
	// the runtime's mount namespace (config.json's root.path, relative
	// to the bundle there), where /proc and /sys are mounted while the
	// createRuntime hooks run.
	Rootfs      string            `json:"rootfs"`
	Runtime     string            `json:"runtime,omitempty"` // what created it: "runc", "crun", "docker", ...
	Name        string            `json:"name,omitempty"`    // human name, when the runtime gave one
	Annotations map[string]string `json:"annotations,omitempty"`
	// Deadline is when the hook stops waiting and lets the container
	// start with the host's files (hook_timeout after it started). An
	// attach that has not mounted anything by then gives up, so no mount
	// lands after the runtime moved on; one that finishes later is
	// counted as late.
	Deadline time.Time `json:"deadline,omitzero"`
}

// HookStats counts the attaches asked for by OCI hooks (`lxmount oci-hook`).
type HookStats struct {
	Attached uint64 `json:"attached"` // attached in time
	Late     uint64 `json:"late"`     // answered after the hook's deadline, or given up at it
	Failed   uint64 `json:"failed"`   // refused or failed in the daemon
	// Unanswered counts the hooks that got no answer at all (no daemon,
	// or none in time), as they recorded in <state-dir>/hook-failures.log.
	Unanswered uint64 `json:"unanswered"`
}

// AttachResult answers Attach.
type AttachResult struct {
	Container ContainerInfo `json:"container"`
	Already   bool          `json:"already"` // it was attached before this call
}

// Detach asks to detach a container, named by a PID of it or its id.
type Detach struct {
	Target string `json:"target"`
}

// DetachResult answers Detach.
type DetachResult struct {
	ID string `json:"id"`
}

// Error is the body of a failed call.
type Error struct {
	Error string `json:"error"`
}

// Reconcile asks the daemon to reconcile: discover containers, attach the
// ones a policy matches, heal broken mounts, re-apply changed policies and
// drop what is gone.
//
//	POST /v1/reconcile Reconcile -> ReconcileResult
type Reconcile struct {
	DryRun bool `json:"dry_run"` // plan only, change nothing
}

// ReconcileResult is what a reconcile did (or, dry, would do).
type ReconcileResult struct {
	DryRun  bool     `json:"dry_run"`
	Actions []Action `json:"actions"` // one per container considered, unchanged ones included
	Summary Summary  `json:"summary"`
	Took    string   `json:"took"` // wall time, as a Go duration
}

// Action is one container's outcome in a reconcile.
type Action struct {
	Kind    string `json:"kind"` // attach, heal, reapply, detach, forget, unchanged
	ID      string `json:"id,omitempty"`
	InitPID int    `json:"init_pid"`
	Cgroup  string `json:"cgroup"`
	Policy  string `json:"policy,omitempty"`
	Reason  string `json:"reason"`
	Error   string `json:"error,omitempty"` // set when the action failed
}

// Summary counts a reconcile's actions; failed ones count only as Failed.
type Summary struct {
	Attached  int `json:"attached"`
	Healed    int `json:"healed"`
	Reapplied int `json:"reapplied"`
	Detached  int `json:"detached"`
	Unchanged int `json:"unchanged"`
	Failed    int `json:"failed"`
}

// String is the one-line summary the CLI prints.
func (s Summary) String() string {
	return fmt.Sprintf("attached %d, healed %d, reapplied %d, detached %d, unchanged %d, failed %d",
		s.Attached, s.Healed, s.Reapplied, s.Detached, s.Unchanged, s.Failed)
}
