package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/supervisor/discovery"
)

func policyCommand() *command {
	c := &command{
		name:    "policy",
		summary: "check policy files, or explain which policy a container matches",
		usage:   "check [FILES...] | explain <pid>",
		help: `check validates policy files and prints the effective, merged policy set:
with FILES, just those files; without, the config (--config) and its
policy directory, as the daemon would load them. Errors name
file:line:column and the valid choices.

explain resolves the container of <pid> (its cgroup path, runtime, id,
name and annotations) and says which policy matches it and why.

EXAMPLE:
  lxmount policy check
  lxmount policy check /etc/lxmount/policy.d/*.toml
  lxmount --config /etc/lxmount/lxmount.toml policy explain 4242`,
	}
	c.run = func(g globals, args []string, stdout, stderr io.Writer) error {
		pos, _, err := parseFlags(c, args)
		if err != nil {
			return err
		}
		if len(pos) == 0 {
			return usageError{"expects check or explain"}
		}
		switch pos[0] {
		case "check":
			return policyCheck(g, pos[1:], stdout)
		case "explain":
			if len(pos) != 2 {
				return usageError{"explain expects exactly one <pid>"}
			}
			pid, err := strconv.Atoi(pos[1])
			if err != nil || pid <= 0 {
				return usageError{fmt.Sprintf("%q is not a process id", pos[1])}
			}
			return policyExplain(g, pid, stdout)
		}
		return usageError{fmt.Sprintf("unknown policy subcommand %q (valid: check, explain)", pos[0])}
	}
	return c
}

func policyCheck(g globals, files []string, w io.Writer) error {
	var pols []*configs.Policy
	if len(files) > 0 {
		var err error
		if pols, err = configs.LoadPolicies(files...); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d file(s) ok\n", len(files))
	} else {
		set, err := configs.Load(g.config)
		if err != nil {
			return err
		}
		pols = set.Policies
		fmt.Fprintf(w, "config %s, policy files: %s\n", configShown(g, set), orNone(set.Files))
		d := set.Daemon
		// The socket and state dir this command was given (flags, then
		// the file), which are the daemon's when started with the same.
		fmt.Fprintf(w, "daemon: socket %s, state_dir %s, reconcile_interval %s, log_level %s\n", g.socket, g.stateDir, d.ReconcileInterval, d.LogLevel)
	}
	for i, p := range pols {
		fmt.Fprintf(w, "%d. %s (%s)\n   files: %s\n   cpu.view=%s memory.swap=%s uptime.source=%s loadavg.enabled=%t\n",
			i+1, p.Name, p.Source, orNone(p.Files), p.Options.CPUView, p.Options.Swap, p.Options.Uptime, p.Loadavg)
	}
	return nil
}

// configShown names the configuration file policy check read.
func configShown(g globals, set *configs.Set) string {
	switch {
	case set.ConfigFile != "":
		return set.ConfigFile
	case g.config != "":
		return g.config + " (not found: defaults)"
	}
	return configs.DefaultConfigPath + " (not found: defaults)"
}

func policyExplain(g globals, pid int, w io.Writer) error {
	set, err := configs.Load(g.config)
	if err != nil {
		return err
	}
	c, err := discovery.Resolve(discovery.Options{}, pid)
	if err != nil {
		return err
	}
	cg := c.CgroupV1["memory"]
	if cg == "" {
		cg = c.CgroupV2
	}
	mv := configs.Container{CgroupPath: cg, Runtime: c.Runtime, ID: c.ID, Name: c.Name, Annotations: c.Annotations}
	fmt.Fprintf(w, "container of pid %d: init %d, cgroup %s, runtime %s, id %s, name %s\n", pid, c.InitPID, cg, dash(c.Runtime), dash(c.ID), dash(c.Name))
	p, why := set.Match(mv)
	if p == nil {
		fmt.Fprintf(w, "no policy: %s\n", why)
		return nil
	}
	fmt.Fprintf(w, "%s\nfiles: %s\n", why, orNone(p.Files))
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
