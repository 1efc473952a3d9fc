package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/lxmount/lxmount/configs"
	"github.com/lxmount/lxmount/ocihook"
)

// runHook is `lxmount-runc --lxmount-hook [--runtime NAME] [--config
// PATH]`, the createRuntime hook the wrapper adds: lxmount's hook
// (package ocihook) in this smaller program, which starts sooner than
// lxmount. When no daemon listens it hands the state over to `lxmount
// oci-hook`, which starts one, with the same deadline. It returns the
// exit code.
func runHook(args []string, stdin io.Reader, stderr io.Writer) int {
	var runtime, config string
	for len(args) > 0 {
		if len(args) < 2 {
			fmt.Fprintf(stderr, "lxmount-runc %s: %s needs a value\n", "--lxmount-hook", args[0])
			return 2
		}
		switch args[0] {
		case "--runtime":
			runtime = args[1]
		case "--config":
			config = args[1]
		default:
			fmt.Fprintf(stderr, "lxmount-runc --lxmount-hook: unknown option %q\n", args[0])
			return 2
		}
		args = args[2:]
	}
	cfg := ocihook.Config{Runtime: runtime}
	if cfg.Daemon, cfg.DaemonErr = configs.LoadDaemon(config); cfg.DaemonErr != nil {
		cfg.Daemon = configs.DefaultDaemon()
	}
	cfg.Socket, cfg.StateDir = cfg.Daemon.Socket, cfg.Daemon.StateDir
	cfg.NoDaemon = func(ctx context.Context, state []byte) (bool, error) {
		return true, handOver(ctx, state, runtime, config, stderr)
	}
	if err := ocihook.Run(cfg, stdin, stderr); err != nil {
		fmt.Fprintf(stderr, "lxmount-runc --lxmount-hook: %v\n", err)
		return 1
	}
	return 0
}

// handOver runs `lxmount oci-hook` on state, within ctx's deadline: the
// lxmount beside this program starts a daemon when none answers, as
// attach does. Its exit status is the hook's.
func handOver(ctx context.Context, state []byte, runtime, config string, stderr io.Writer) error {
	lxmount, err := findLxmount()
	if err != nil {
		return err
	}
	argv := []string{}
	if config != "" {
		argv = append(argv, "--config", config)
	}
	argv = append(argv, "oci-hook")
	if runtime != "" {
		argv = append(argv, "--runtime", runtime)
	}
	if dl, ok := ctx.Deadline(); ok {
		argv = append(argv, "--deadline", strconv.FormatInt(dl.UnixNano(), 10))
	}
	// Not bound to ctx: lxmount applies the deadline itself, and its
	// failures (hook_failure) are its to say.
	cmd := exec.Command(lxmount, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(state), os.Stdout, stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("lxmount oci-hook exited %d", ee.ExitCode())
	}
	return err
}
