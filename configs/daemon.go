package configs

import (
	"net"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultConfigPath is where the daemon reads its settings unless the CLI's
// --config names another file.
const DefaultConfigPath = "/etc/lxmount/lxmount.toml"

// Daemon holds the daemon settings of lxmount.toml. Every field has a
// default (see DefaultDaemon), so the file and each of its keys are optional.
type Daemon struct {
	// Socket is the control socket's path (key "socket").
	Socket string
	// StateDir holds state.json, the pid file, the log and the FUSE
	// mountpoints (key "state_dir").
	StateDir string
	// ReconcileInterval is how often running containers are compared with
	// the attached ones (key "reconcile_interval", a duration like "30s").
	// 0 turns the daemon's own loop off: only `lxmount reconcile` (cron, a
	// timer) and explicit attach then attach containers.
	ReconcileInterval time.Duration
	// LogLevel is one of "debug", "info", "warn", "error" (key "log_level").
	LogLevel string
	// MetricsAddress is the host:port of the metrics listener; "" disables
	// it (key "metrics_address").
	MetricsAddress string
	// PolicyDir is the directory of policy files (key "policy_dir"). In the
	// file a relative path is resolved against the file's directory; the
	// default is "policy.d" beside the configuration file.
	PolicyDir string
	// Events turns on event-driven discovery (key "events"): the daemon
	// learns of every new process in a new mount namespace within
	// milliseconds and attaches the containers a policy matches, whatever
	// reconcile_interval says. false leaves attaching to the hook, the
	// runtime wrapper, explicit attach and reconcile.
	Events bool
	// NRI turns on the NRI plugin (key "nri"): the daemon registers on
	// the runtime's NRI socket (containerd >= 1.7, CRI-O >= 1.26) and
	// attaches each pod's container between its creation and its start,
	// with the pod's metadata; it retries in the background while there
	// is no socket.
	NRI bool
	// NRISocket is the runtime's NRI socket (key "nri_socket").
	NRISocket string
	// HookTimeout bounds how long `lxmount oci-hook` waits for the daemon
	// to attach a starting container (key "hook_timeout", a duration).
	HookTimeout time.Duration
	// HookFailure is what the hook does when the attach fails or times
	// out (key "hook_failure"): "start" lets the container start with the
	// host's files (reconcile or the event watch attaches it later),
	// "refuse" fails the hook, so the runtime refuses to start it.
	HookFailure string
	// Sysinfo turns on sysinfo(2) through seccomp user notification (key
	// "sysinfo"): lxmount-runc gives each container it creates a notify
	// rule for sysinfo whose listener is <state_dir>/seccomp.sock, and
	// the daemon answers with the container's memory, swap, uptime and
	// load. false leaves containers' seccomp profiles untouched.
	Sysinfo bool

	// reconcileSet and eventsSet: the file sets reconcile_interval and
	// events explicitly (OnRequest keeps them then).
	reconcileSet, eventsSet bool
}

// OnRequest returns the settings of a daemon started on request (by
// `lxmount attach`, `reconcile` or `oci-hook` when none answered), which
// attaches only the containers it is asked to: its own reconcile loop
// and the event watch are off unless the file sets reconcile_interval or
// events explicitly.
func (d Daemon) OnRequest() Daemon {
	if !d.reconcileSet {
		d.ReconcileInterval = 0
	}
	if !d.eventsSet {
		d.Events = false
	}
	return d
}

// Hook failure modes, the values of hook_failure.
const (
	HookFailureStart  = "start"
	HookFailureRefuse = "refuse"
)

// DefaultDaemon returns the settings used when lxmount.toml is absent or
// leaves a key out. PolicyDir assumes the file is at DefaultConfigPath.
func DefaultDaemon() Daemon {
	return Daemon{
		Socket:            "/run/lxmount/lxmount.sock",
		StateDir:          "/run/lxmount",
		ReconcileInterval: 30 * time.Second,
		LogLevel:          "info",
		MetricsAddress:    "",
		PolicyDir:         filepath.Join(filepath.Dir(DefaultConfigPath), "policy.d"),
		Events:            true,
		NRI:               false,
		NRISocket:         "/var/run/nri/nri.sock",
		HookTimeout:       2 * time.Second,
		HookFailure:       HookFailureStart,
		Sysinfo:           true,
	}
}

// daemonKeys are the keys lxmount.toml may hold, in documentation order.
var daemonKeys = []string{"socket", "state_dir", "reconcile_interval", "log_level", "metrics_address", "policy_dir", "events", "hook_timeout", "hook_failure", "nri", "nri_socket", "sysinfo"}

// maxHookTimeout stays below the OCI hook timeout the wrapper sets, so the
// runtime never kills a hook that is still within its own bound.
const maxHookTimeout = 30 * time.Second

// logLevels are the valid values of log_level.
var logLevels = []string{"debug", "info", "warn", "error"}

// minReconcileInterval keeps a typo such as "30ms" from busy-looping.
const minReconcileInterval = time.Second

// parseDaemon decodes the daemon configuration in data, read from file.
// The policy directory defaults to policy.d beside file, and a relative
// policy_dir is resolved against file's directory.
func parseDaemon(file string, data []byte) (_ Daemon, err error) {
	defer recoverParse(file, &err)
	cfg := DefaultDaemon()
	cfg.PolicyDir = filepath.Join(filepath.Dir(file), "policy.d")
	doc, d, err := decode(file, data)
	if err != nil {
		return Daemon{}, err
	}
	if _, ok := doc["policy"]; ok {
		d.index = 0 // point at the first [[policy]]
		d.errorf(toml.Key{"policy"}, -1, "policies belong in *.toml files of the policy directory (policy_dir), not in the daemon configuration")
		d.index = -1
		delete(doc, "policy")
	}
	for _, name := range d.keys(nil, doc, "key", daemonKeys) {
		key := toml.Key{name}
		v := doc[name]
		switch name {
		case "socket", "state_dir":
			if s, ok := d.str(key, v); ok {
				if !filepath.IsAbs(s) {
					d.errorf(key, -1, "%s must be an absolute path, not %q", name, s)
				} else if name == "socket" {
					cfg.Socket = filepath.Clean(s)
				} else {
					cfg.StateDir = filepath.Clean(s)
				}
			}
		case "reconcile_interval":
			s, ok := d.str(key, v)
			if !ok {
				break
			}
			iv, err := time.ParseDuration(s)
			switch {
			case err != nil:
				d.errorf(key, -1, "reconcile_interval %q is not a duration (e.g. \"30s\", \"2m\")", s)
			case iv < 0 || iv > 0 && iv < minReconcileInterval:
				d.errorf(key, -1, "reconcile_interval %q is shorter than %s (\"0s\" turns the daemon's own loop off)", s, minReconcileInterval)
			default:
				cfg.ReconcileInterval, cfg.reconcileSet = iv, true
			}
		case "log_level":
			if s, ok := d.enum(key, v, logLevels); ok {
				cfg.LogLevel = s
			}
		case "metrics_address":
			s, ok := d.str(key, v)
			if !ok {
				break
			}
			if s != "" {
				if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
					d.errorf(key, -1, "metrics_address %q is not host:port (e.g. \"127.0.0.1:9105\"; \"\" disables metrics)", s)
					break
				}
			}
			cfg.MetricsAddress = s
		case "policy_dir":
			s, ok := d.str(key, v)
			switch {
			case !ok:
			case s == "":
				d.errorf(key, -1, "policy_dir is empty (leave it out for %s)", cfg.PolicyDir)
			case filepath.IsAbs(s):
				cfg.PolicyDir = filepath.Clean(s)
			default:
				cfg.PolicyDir = filepath.Join(filepath.Dir(file), s)
			}
		case "events":
			if b, ok := d.boolean(key, v); ok {
				cfg.Events, cfg.eventsSet = b, true
			}
		case "nri":
			if b, ok := d.boolean(key, v); ok {
				cfg.NRI = b
			}
		case "sysinfo":
			if b, ok := d.boolean(key, v); ok {
				cfg.Sysinfo = b
			}
		case "nri_socket":
			if s, ok := d.str(key, v); ok {
				if !filepath.IsAbs(s) {
					d.errorf(key, -1, "nri_socket must be an absolute path, not %q", s)
				} else {
					cfg.NRISocket = filepath.Clean(s)
				}
			}
		case "hook_timeout":
			s, ok := d.str(key, v)
			if !ok {
				break
			}
			iv, err := time.ParseDuration(s)
			switch {
			case err != nil:
				d.errorf(key, -1, "hook_timeout %q is not a duration (e.g. \"2s\", \"500ms\")", s)
			case iv <= 0 || iv > maxHookTimeout:
				d.errorf(key, -1, "hook_timeout %q is outside (0, %s]", s, maxHookTimeout)
			default:
				cfg.HookTimeout = iv
			}
		case "hook_failure":
			if s, ok := d.enum(key, v, []string{HookFailureStart, HookFailureRefuse}); ok {
				cfg.HookFailure = s
			}
		}
	}
	if err := d.err(); err != nil {
		return Daemon{}, err
	}
	return cfg, nil
}
