// Command lxmount-runc is an OCI runtime wrapper, argument-compatible with
// runc: it gives every container it creates lxmount's createRuntime hook
// (`lxmount oci-hook`), so the container is attached before its first
// instruction, and otherwise runs the real runtime unchanged.
//
//	lxmount-runc [--lxmount-config PATH] [--lxmount-runtime PATH] <runtime arguments...>
//
// Its own options come first, so Docker's runtimeArgs, containerd's
// runtime options and CRI-O's runtime table can set them. On `create` and
// `run` it adds the hook to the bundle's config.json (idempotent; a bundle
// annotated lxmount.io/skip=true is left alone), then execs the runtime
// with the same arguments; every other command goes straight through.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/lxmount/lxmount/oci"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// hookTimeout is the OCI timeout of the hook entry, in seconds: above the
// longest hook_timeout lxmount.toml allows (30 s), so the runtime never
// kills a hook that is still within its own bound.
const hookTimeout = 35

// hookPATH is the hook's PATH: runtimes run hooks with only the entry's
// environment.
const hookPATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr, syscall.Exec))
}

// options are lxmount-runc's own options.
type options struct {
	config  string // --lxmount-config: lxmount.toml for the hook ("" : its default)
	runtime string // --lxmount-runtime: the real runtime (default runc on PATH)
}

// execFunc replaces the process (syscall.Exec; tests pass their own).
type execFunc func(argv0 string, argv []string, envv []string) error

// run prepares the bundle when the command creates a container and execs
// the runtime; it returns only on failure, with the exit code.
func run(args []string, stderr io.Writer, exec execFunc) int {
	if len(args) > 0 && args[0] == oci.WrapperHookFlag {
		return runHook(args[1:], os.Stdin, stderr)
	}
	opts, rest, err := parseOwn(args)
	if err != nil {
		fmt.Fprintf(stderr, "lxmount-runc: %v\n", err)
		return 2
	}
	runtime, err := findRuntime(opts.runtime)
	if err != nil {
		fmt.Fprintf(stderr, "lxmount-runc: %v\n", err)
		return 1
	}
	if cmd, bundle, ok := creates(rest); ok {
		if err := prepare(bundle, opts, filepath.Base(runtime)); err != nil {
			// Never break a container: it starts without the hook, and
			// the daemon's event watch or reconcile attaches it.
			fmt.Fprintf(stderr, "lxmount-runc: %s: %v; running %s without lxmount's hook\n", cmd, err, filepath.Base(runtime))
		}
	}
	err = exec(runtime, append([]string{runtime}, rest...), os.Environ())
	fmt.Fprintf(stderr, "lxmount-runc: exec %s: %v\n", runtime, err)
	return 1
}

// parseOwn takes lxmount-runc's options from the front of args.
func parseOwn(args []string) (options, []string, error) {
	var o options
	for len(args) > 0 {
		name, val, hasVal := strings.Cut(args[0], "=")
		var dst *string
		switch name {
		case "--lxmount-config":
			dst = &o.config
		case "--lxmount-runtime":
			dst = &o.runtime
		case "--lxmount-version":
			fmt.Println("lxmount-runc", version)
			os.Exit(0)
		default:
			return o, args, nil
		}
		if !hasVal {
			if len(args) < 2 {
				return o, nil, fmt.Errorf("%s needs a value", name)
			}
			val, args = args[1], args[1:]
		}
		if val == "" {
			return o, nil, fmt.Errorf("%s needs a non-empty value", name)
		}
		*dst = val
		args = args[1:]
	}
	return o, args, nil
}

// findRuntime resolves the real runtime: --lxmount-runtime as a path or a
// name on PATH, runc by default.
func findRuntime(name string) (string, error) {
	if name == "" {
		name = "runc"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("runtime %q not found (give --lxmount-runtime PATH): %w", name, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if self, err := os.Executable(); err == nil && sameFile(self, path) {
		return "", fmt.Errorf("runtime %q is lxmount-runc itself (give --lxmount-runtime the real runtime)", name)
	}
	return path, nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// globalValueFlags are the runtime's global flags that take a separate
// value (runc 1.1 and crun 1.8); the others are booleans.
var globalValueFlags = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--log-level": true,
	"--criu": true, "--rootless": true, "--cgroup-manager": true,
}

// creates reports whether the runtime arguments create a container
// (`create` or `run`), with the command and its bundle directory
// (--bundle/-b, else the working directory, as runc does).
func creates(args []string) (cmd, bundle string, ok bool) {
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if a == "--" {
			return "", "", false
		}
		if !strings.Contains(a, "=") && globalValueFlags[a] {
			i++
		}
	}
	if i >= len(args) || args[i] != "create" && args[i] != "run" {
		return "", "", false
	}
	cmd = args[i]
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		if name != "--bundle" && name != "-b" && name != "-bundle" {
			continue
		}
		if !hasVal {
			if j+1 >= len(args) {
				break
			}
			val = args[j+1]
		}
		bundle = val
	}
	if bundle == "" {
		bundle = "."
	}
	if abs, err := filepath.Abs(bundle); err == nil {
		bundle = abs
	}
	return cmd, bundle, true
}

// prepare adds lxmount's hook to the bundle's config.json unless the
// bundle is annotated lxmount.io/skip=true.
func prepare(bundle string, opts options, runtimeName string) error {
	data, err := os.ReadFile(filepath.Join(bundle, oci.ConfigFile))
	if err != nil {
		return err
	}
	b, err := oci.ParseConfig(bundle, data)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(bundle, oci.ConfigFile), err)
	}
	if oci.Skipped(b.Annotations) {
		return nil
	}
	lxmount, err := findLxmount()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	args := []string{"lxmount-runc", oci.WrapperHookFlag, "--runtime", runtimeName}
	if opts.config != "" {
		cfg, err := filepath.Abs(opts.config)
		if err != nil {
			return err
		}
		args = append(args, "--config", cfg)
	}
	timeout := hookTimeout
	out, _, err := oci.AddHook(data, oci.Hook{Path: self, Args: args, Env: []string{hookPATH}, Timeout: &timeout})
	if err != nil {
		return err
	}
	out = prepareSeccomp(out, b, opts, lxmount, runtimeName, os.Stderr)
	if bytes.Equal(out, data) {
		return nil
	}
	return oci.WriteConfig(bundle, out)
}

// findLxmount finds the lxmount binary the hook runs: beside lxmount-runc
// (as `make install` and bin/ put them), else on PATH.
func findLxmount() (string, error) {
	if self, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(self); err == nil {
			self = real
		}
		cand := filepath.Join(filepath.Dir(self), "lxmount")
		if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	path, err := exec.LookPath("lxmount")
	if err != nil {
		return "", errors.New("no lxmount binary beside lxmount-runc or on PATH")
	}
	return filepath.Abs(path)
}
