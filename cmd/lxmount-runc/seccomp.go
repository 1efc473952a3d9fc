package main

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/oci"
	"github.com/lxmount/lxmount/seccompagent"
	"github.com/lxmount/lxmount/sources"
)

// Annotations a bundle may carry to change what lxmount-runc adds.
const (
	// sysinfoAnnotation=false keeps the sysinfo notify rule out.
	sysinfoAnnotation = "lxmount.io/sysinfo"
	// timensAnnotation=true adds a time namespace (crun).
	timensAnnotation = "lxmount.io/timens"
	// affinityAnnotation=quota adds sched_getaffinity to the notify rule,
	// =host keeps it out whatever the policies say
	// (supervisor.AffinityAnnotation: the daemon answers by it too).
	affinityAnnotation = "lxmount.io/sched-getaffinity"
)

// prepareSeccomp adds, unless lxmount.toml's sysinfo = false or the
// bundle's annotations say otherwise, the notify rule for sysinfo (and
// sched_getaffinity when asked: see wantsAffinity) with the fd holder's
// listener, and, with
// crun and lxmount.io/timens=true, a time namespace whose CLOCK_BOOTTIME
// starts at the container's creation. The holder is started first when none runs: runc and crun
// refuse to create a container whose listener does not answer, so
// without a holder the rule is left out. Problems are reported on warn
// and leave data as it was.
func prepareSeccomp(data []byte, b oci.Bundle, opts options, lxmount, runtimeName string, warn io.Writer) []byte {
	path := opts.config
	if path == "" {
		path = configs.DefaultConfigPath
	}
	d, err := configs.LoadDaemon(path)
	if err != nil {
		fmt.Fprintf(warn, "lxmount-runc: %v; no sysinfo rule\n", err)
		return data
	}
	if d.Sysinfo && !strings.EqualFold(b.Annotations[sysinfoAnnotation], "false") {
		names := []string{"sysinfo"}
		if wantsAffinity(path, b.Annotations, warn) {
			names = append(names, "sched_getaffinity")
		}
		argv := []string{lxmount, "seccomp-holder", "--state-dir", d.StateDir}
		if err := seccompagent.EnsureHolder(d.StateDir, argv); err != nil {
			fmt.Fprintf(warn, "lxmount-runc: %v; the container's sysinfo(2) is the host's\n", err)
		} else if out, _, err := oci.AddSeccompNotify(data, seccompagent.ListenerPath(d.StateDir), names); err != nil {
			fmt.Fprintf(warn, "lxmount-runc: %v; no sysinfo rule\n", err)
		} else {
			data = out
		}
	}
	// Opt-in: crun 1.8 (Debian 12) creates the time namespace in a
	// process that is the new PID namespace's init and exits, which
	// kills the container ("write to sync socket: Connection reset by
	// peer", measured here); runc 1.1 has no time namespaces.
	if runtimeName == "crun" && strings.EqualFold(b.Annotations[timensAnnotation], "true") {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err == nil {
			// The offset takes the whole seconds of the host's boot
			// time away: the container's clock reads under a second
			// at this moment, its creation's age afterwards.
			if out, _, err := oci.AddTimeNamespace(data, -ts.Sec); err == nil {
				data = out
			} else {
				fmt.Fprintf(warn, "lxmount-runc: %v; no time namespace\n", err)
			}
		}
	}
	return data
}

// wantsAffinity reports whether the container's sched_getaffinity(2)
// goes to the daemon: the annotation says quota, or, unless it says
// host, a policy of lxmount.toml's policy directory sets [policy.cpu]
// affinity = "quota". The policy that will match is decided at attach
// (by cgroup, image, labels the runtime has not made yet), so every
// policy counts here; the daemon lets the calls of a container whose
// policy does not ask for it through (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
func wantsAffinity(configPath string, ann map[string]string, warn io.Writer) bool {
	switch sources.AffinityMode(ann[affinityAnnotation]) {
	case sources.AffinityQuota:
		return true
	case sources.AffinityHost:
		return false
	}
	set, err := configs.Load(configPath)
	if err != nil {
		fmt.Fprintf(warn, "lxmount-runc: %v; sched_getaffinity(2) is the kernel's\n", err)
		return false
	}
	for _, p := range set.Policies {
		if p.Options.Affinity == sources.AffinityQuota {
			return true
		}
	}
	return false
}
