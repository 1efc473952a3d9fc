// Command lxmount gives each container its own view of /proc and
// /sys/devices/system/cpu/online, derived from its cgroup, through a
// dedicated FUSE instance mounted inside the container.
//
// One file per subcommand; each is a command value listed in order in
// commands below.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lxmount/lxmount/configs"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the flags every command accepts, before or after its name.
type globals struct {
	socket   string
	stateDir string
	config   string
}

const (
	defaultStateDir = "/run/lxmount"
	defaultSocket   = "/run/lxmount/lxmount.sock"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // arguments, after the name
	help    string // long help with EXAMPLE block
	// run executes the command; flags are the command's own.
	run   func(g globals, args []string, stdout, stderr io.Writer) error
	flags func(fs *flag.FlagSet)
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []*command {
	return []*command{daemonCommand(), attachCommand(), ociHookCommand(), detachCommand(), statusCommand(), reconcileCommand(), policyCommand(), renderCommand(), seccompHolderCommand(), versionCommand()}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the command line and runs a command; it returns the exit code:
// 0 ok, 1 failure, 2 usage.
func run(args []string, stdout, stderr io.Writer) int {
	g, rest, err := parseGlobals(args)
	if err != nil {
		fmt.Fprintf(stderr, "lxmount: %v\n", err)
		return 2
	}
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		if len(rest) > 1 && rest[0] == "help" {
			if c := find(rest[1]); c != nil {
				printCommandHelp(stdout, c)
				return 0
			}
		}
		printHelp(stdout)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	c := find(rest[0])
	if c == nil {
		fmt.Fprintf(stderr, "lxmount: unknown command %q (see lxmount --help)\n", rest[0])
		return 2
	}
	if c.name != "daemon" {
		g = clientGlobals(g)
	}
	err = c.run(g, rest[1:], stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		printCommandHelp(stdout, c)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "lxmount %s: %v\nusage: lxmount %s %s (see lxmount %s --help)\n", c.name, err, c.name, c.usage, c.name)
		return 2
	default:
		fmt.Fprintf(stderr, "lxmount %s: %v\n", c.name, err)
		return 1
	}
}

func find(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseGlobals takes --socket, --state-dir and --config (as "--x v" or
// "--x=v") from anywhere before a "--", and returns the other arguments.
func parseGlobals(args []string) (globals, []string, error) {
	g := globals{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		var dst *string
		switch name {
		case "socket":
			dst = &g.socket
		case "state-dir":
			dst = &g.stateDir
		case "config":
			dst = &g.config
		default:
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return g, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			val = args[i]
		}
		if val == "" {
			return g, nil, fmt.Errorf("flag --%s needs a non-empty value", name)
		}
		*dst = val
	}
	return g, rest, nil
}

// withDefaults fills what the flags left empty: from the daemon settings
// when set, else --state-dir's socket or the built-in defaults. Flags win
// over the config file.
func (g globals) withDefaults(d *configs.Daemon) globals {
	if g.stateDir == "" && d != nil {
		g.stateDir = d.StateDir
	}
	if g.socket == "" && d != nil && g.stateDir == d.StateDir {
		g.socket = d.Socket
	}
	if g.stateDir == "" {
		g.stateDir = defaultStateDir
	}
	if g.socket == "" {
		if g.stateDir != defaultStateDir {
			g.socket = filepath.Join(g.stateDir, "lxmount.sock")
		} else {
			g.socket = defaultSocket
		}
	}
	return g
}

// clientGlobals resolves the globals for a command that talks to a daemon:
// the socket may come from the config file's daemon settings (the policy
// files are the daemon's business: a bad one never changes which daemon a
// client talks to). A config file that does not load is the daemon's
// concern (it refuses to start); here the built-in defaults apply.
func clientGlobals(g globals) globals {
	if d, err := configs.LoadDaemon(g.config); err == nil {
		return g.withDefaults(&d)
	}
	return g.withDefaults(nil)
}

// parseFlags parses a command's own flags, interspersed with its
// positional arguments, and returns the positionals.
func parseFlags(c *command, args []string) ([]string, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, fs, err
			}
			return nil, fs, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, fs, nil
}

const globalHelp = `Global flags (before or after the command name):
  --socket PATH     control socket (default /run/lxmount/lxmount.sock,
                    or <state-dir>/lxmount.sock when --state-dir is given)
  --state-dir DIR   daemon state: state.json, daemon.pid, daemon.log,
                    FUSE mountpoints (default /run/lxmount)
  --config PATH     daemon settings and policies (default /etc/lxmount/lxmount.toml)
`

func printHelp(w io.Writer) {
	fmt.Fprintf(w, `lxmount gives each container a /proc view sized to its cgroup: meminfo,
cpuinfo, stat, uptime, loadavg, diskstats, swaps, pressure and
/sys/devices/system/cpu/online, served by a dedicated FUSE instance mounted
inside the container's mount namespace. No change to the container.

Usage: lxmount [global flags] <command> [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n%s\nRun 'lxmount <command> --help' for a command's flags and examples.\nExit codes: 0 ok, 1 failure, 2 usage.\n", globalHelp)
}

func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: lxmount %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "\nFlags:")
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			arg := "--" + f.Name
			if name != "" {
				arg += " " + strings.ToUpper(name)
			}
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, "  %-22s %s%s\n", arg, usage, def)
		})
	}
	fmt.Fprintf(w, "\n%s", globalHelp)
}
