package configs

import (
	"testing"
	"time"
)

func TestDefaultDaemon(t *testing.T) {
	want := Daemon{
		Socket:            "/run/lxmount/lxmount.sock",
		StateDir:          "/run/lxmount",
		ReconcileInterval: 30 * time.Second,
		LogLevel:          "info",
		MetricsAddress:    "",
		PolicyDir:         "/etc/lxmount/policy.d",
		Events:            true,
		HookTimeout:       2 * time.Second,
		HookFailure:       "start",
		NRISocket:         "/var/run/nri/nri.sock",
		Sysinfo:           true,
	}
	if got := DefaultDaemon(); got != want {
		t.Errorf("DefaultDaemon() = %+v, want %+v", got, want)
	}
}

func TestParseDaemon(t *testing.T) {
	tests := []struct {
		name string
		file string
		data []byte
		want Daemon
	}{
		{
			name: "empty file means defaults",
			file: "/etc/lxmount/lxmount.toml",
			data: nil,
			want: DefaultDaemon(),
		},
		{
			name: "policy dir defaults beside another config file",
			file: "/opt/lx/lx.toml",
			data: doc(`# nothing`),
			want: func() Daemon { d := DefaultDaemon(); d.PolicyDir = "/opt/lx/policy.d"; return d }(),
		},
		{
			name: "every key",
			file: "/etc/lxmount/lxmount.toml",
			data: doc(
				`socket = "/run/lx/ctl.sock"`,
				`state_dir = "/var/lib/lx/"`,
				`reconcile_interval = "1m30s"`,
				`log_level = "debug"`,
				`metrics_address = "127.0.0.1:9105"`,
				`policy_dir = "/srv/policies"`,
				`events = false`,
				`hook_timeout = "500ms"`,
				`hook_failure = "refuse"`,
				`nri = true`,
				`nri_socket = "/run/containerd/nri//nri.sock"`,
				`sysinfo = false`,
			),
			want: Daemon{
				Socket:            "/run/lx/ctl.sock",
				StateDir:          "/var/lib/lx",
				ReconcileInterval: 90 * time.Second,
				LogLevel:          "debug",
				MetricsAddress:    "127.0.0.1:9105",
				PolicyDir:         "/srv/policies",
				Events:            false,
				HookTimeout:       500 * time.Millisecond,
				HookFailure:       "refuse",
				NRI:               true,
				NRISocket:         "/run/containerd/nri/nri.sock",
				Sysinfo:           false,
			},
		},
		{
			name: "relative policy dir is resolved against the file's directory",
			file: "/opt/lx/lx.toml",
			data: doc(`policy_dir = "../pol"`),
			want: func() Daemon { d := DefaultDaemon(); d.PolicyDir = "/opt/pol"; return d }(),
		},
		{
			name: "metrics on all interfaces",
			file: "/etc/lxmount/lxmount.toml",
			data: doc(`metrics_address = ":9105"`),
			want: func() Daemon { d := DefaultDaemon(); d.MetricsAddress = ":9105"; return d }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDaemon(tt.file, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			got.reconcileSet, got.eventsSet = false, false // TestOnRequest
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestDaemonErrors covers every validation message of lxmount.toml, with
// its exact position.
func TestDaemonErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{
			name: "toml syntax error",
			data: doc(`socket = "/x`),
			want: `c.toml:1:13: strings cannot contain newlines`,
		},
		{
			name: "unknown key",
			data: doc(`log_level = "info"`, `loglevel = "debug"`),
			want: `c.toml:2:1: unknown key "loglevel" (valid: socket, state_dir, reconcile_interval, log_level, metrics_address, policy_dir, events, hook_timeout, hook_failure, nri, nri_socket, sysinfo)`,
		},
		{
			name: "policies in the daemon file",
			data: doc(`[[policy]]`, `name = "a"`),
			want: `c.toml:1:1: policies belong in *.toml files of the policy directory (policy_dir), not in the daemon configuration`,
		},
		{
			name: "relative socket",
			data: doc(`socket = "lxmount.sock"`),
			want: `c.toml:1:1: socket must be an absolute path, not "lxmount.sock"`,
		},
		{
			name: "relative state dir",
			data: doc(`state_dir = "run"`),
			want: `c.toml:1:1: state_dir must be an absolute path, not "run"`,
		},
		{
			name: "interval as a number",
			data: doc(`reconcile_interval = 30`),
			want: `c.toml:1:1: reconcile_interval must be a string, not an integer`,
		},
		{
			name: "interval without unit",
			data: doc(`reconcile_interval = "30"`),
			want: `c.toml:1:1: reconcile_interval "30" is not a duration (e.g. "30s", "2m")`,
		},
		{
			name: "interval too short",
			data: doc(`reconcile_interval = "30ms"`),
			want: `c.toml:1:1: reconcile_interval "30ms" is shorter than 1s ("0s" turns the daemon's own loop off)`,
		},
		{
			name: "unknown log level",
			data: doc(``, `  log_level = "verbose"`),
			want: `c.toml:2:3: unknown log_level "verbose" (valid: debug, info, warn, error)`,
		},
		{
			name: "metrics address without port",
			data: doc(`metrics_address = "localhost"`),
			want: `c.toml:1:1: metrics_address "localhost" is not host:port (e.g. "127.0.0.1:9105"; "" disables metrics)`,
		},
		{
			name: "empty policy dir",
			data: doc(`policy_dir = ""`),
			want: `c.toml:1:1: policy_dir is empty (leave it out for policy.d)`,
		},
		{
			name: "hook timeout too long",
			data: doc(`hook_timeout = "1m"`),
			want: `c.toml:1:1: hook_timeout "1m" is outside (0, 30s]`,
		},
		{
			name: "hook timeout without unit",
			data: doc(`hook_timeout = "2"`),
			want: `c.toml:1:1: hook_timeout "2" is not a duration (e.g. "2s", "500ms")`,
		},
		{
			name: "unknown hook failure mode",
			data: doc(`hook_failure = "ignore"`),
			want: `c.toml:1:1: unknown hook_failure "ignore" (valid: start, refuse)`,
		},
		{
			name: "relative nri socket",
			data: doc(`nri_socket = "nri.sock"`),
			want: `c.toml:1:1: nri_socket must be an absolute path, not "nri.sock"`,
		},
		{
			name: "nri as a string",
			data: doc(`nri = "on"`),
			want: `c.toml:1:1: nri must be true or false, not a string`,
		},
		{
			name: "events as a string",
			data: doc(`events = "yes"`),
			want: `c.toml:1:1: events must be true or false, not a string`,
		},
		{
			name: "settings in a table",
			data: doc(`[daemon]`, `socket = "/x"`),
			want: `c.toml:1:1: unknown key "daemon" (valid: socket, state_dir, reconcile_interval, log_level, metrics_address, policy_dir, events, hook_timeout, hook_failure, nri, nri_socket, sysinfo)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDaemon("c.toml", tt.data)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

// TestOnRequest: a daemon started on request runs no reconcile loop and
// no event watch, unless the file asks for them.
func TestOnRequest(t *testing.T) {
	for _, tt := range []struct {
		name     string
		data     []byte
		interval time.Duration
		events   bool
	}{
		{"defaults", nil, 0, false},
		{"other keys", doc(`log_level = "debug"`), 0, false},
		{"loop asked for", doc(`reconcile_interval = "45s"`), 45 * time.Second, false},
		{"events asked for", doc(`events = true`), 0, true},
		{"both", doc(`reconcile_interval = "30s"`, `events = true`), 30 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := parseDaemon("/etc/lxmount/lxmount.toml", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			got := d.OnRequest()
			if got.ReconcileInterval != tt.interval || got.Events != tt.events {
				t.Errorf("OnRequest: reconcile_interval %s, events %t; want %s, %t", got.ReconcileInterval, got.Events, tt.interval, tt.events)
			}
			if d.ReconcileInterval != DefaultDaemon().ReconcileInterval && tt.interval == 0 {
				t.Errorf("OnRequest changed its receiver")
			}
		})
	}
}
