package testenv

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// WriteArgvLogger writes an executable OCI runtime wrapper at path that
// appends its argv ($0 first) as one line, arguments separated by tabs, to
// logPath and then execs target with the same arguments. Its stdout and
// stderr are the runtime's (engines parse `runc --version` and `runc
// state` output), so it writes nothing else. ReadArgvLog parses the log.
//
// # What each engine passes its runtime
//
// Observed on Debian 12 with this wrapper in front of runc 1.1.5
// (integration/runtimes_harness_test.go, TestRuntimeHarnessArgv and the
// crun cases of TestRuntimeHarnessMemoryLimit, whose logs print every
// call); <...> stands for what varies. The engine decides the argv, not the
// runtime: crun behind the same wrapper gets the same calls. A wrapper must
// pass through every subcommand it does not handle, and `--version`.
//
// Docker 20.10 (dockerd -> containerd 1.6 -> containerd-shim-runc-v2). The
// shim prefixes every call with three global flags, --root, --log and
// --log-format json; the subcommand and its flags follow:
//
//	<runtime> --root <exec-root>/runtime-runc/moby --log <bundle>/log.json --log-format json create --bundle <bundle> --pid-file <bundle>/init.pid <id>
//	<runtime> --root ... --log ... --log-format json start <id>
//	<runtime> --root ... --log ... --log-format json delete <id>
//	<runtime> --root ... --log ... --log-format json delete --force <id>
//
// with <bundle> = <containerd state>/io.containerd.runtime.v2.task/moby/<id>
// and <id> the full 64-hex container id. `docker run -t` adds
// `--console-socket /tmp/pty<n>/pty.sock` to create (before <id>);
// `docker exec` is `exec --process /tmp/runc-process<n> --detach
// --pid-file <bundle>/<exec id>.pid <id>`; `docker stop` is `kill <id> 15`
// then `kill <id> 9`. The shim passes --systemd-cgroup only with
// native.cgroupdriver=systemd (cgroupfs here). dockerd itself runs the
// default runtime with `--version` (for `docker info`). The second delete
// (--force) is the shim's own clean-up after the task's delete: the
// container is gone by then, the call fails, and the shim only logs a
// warning ("failed to remove runc container").
//
// A daemon.json runtime with "runtimeArgs" is not given to the shim
// directly: dockerd writes a script <data-root>/runtimes/<name> (data-root,
// not exec-root) and gives the shim that:
//
//	#!/bin/sh
//	<path> <runtimeArgs...> $@
//
// so the runtimeArgs come first, before the shim's --root/--log/--log-format
// and the subcommand:
//
//	<path> <runtimeArgs...> --root <exec-root>/runtime-runc/moby --log ... --log-format json create --bundle ...
//
// Note the script's `$@` is unquoted and there is no exec: arguments with
// white space would be split, and the runtime runs as a child of that
// /bin/sh, not of the shim. A runtime without runtimeArgs is given to the
// shim as it is (no script).
//
// containerd 1.6, `ctr run --runc-binary <runtime>` (runc v2 shim): as
// under Docker, with --root <runc-root>/<namespace> (`ctr run --runc-root`,
// default /run/containerd/runc) and the bundle under the daemon's state:
//
//	<runtime> --root <runc-root>/<namespace> --log <bundle>/log.json --log-format json create --bundle <state>/io.containerd.runtime.v2.task/<namespace>/<id> --pid-file <bundle>/init.pid <id>
//	<runtime> --root ... --log ... --log-format json start <id>
//	<runtime> --root ... --log ... --log-format json exec --process /tmp/runc-process<n> --detach --pid-file <bundle>/<exec id>.pid <id>   (ctr tasks exec)
//	<runtime> --root ... --log ... --log-format json delete <id>
//	<runtime> --root ... --log ... --log-format json delete --force <id>
//
// Podman 4.3 (`podman --runtime <runtime>`, through conmon 2.1.6): no
// global flags at all (so runc's default --root, /run/runc, and no --log)
// unless `podman --runtime-flag` adds some:
//
//	<runtime> create --bundle <root>/overlay-containers/<id>/userdata --pid-file <runroot>/overlay-containers/<id>/userdata/pidfile <id>
//	<runtime> start <id>
//	<runtime> exec --pid-file <userdata>/<id>/exec_pid --process <userdata>/<id>/exec-process-<n> --detach <id>   (podman exec)
//	<runtime> kill <id> 9                                  (podman rm -f of a running container)
//	<runtime> delete --force <id>
//
// `podman run -t` adds `--console-socket /tmp/conmon-term.<random>` to
// create, after --pid-file.
func WriteArgvLogger(path, logPath, target string) error {
	script := "#!/bin/sh\n" +
		"# lxmount testenv.WriteArgvLogger: log argv, then run " + target + "\n" +
		"line=$0; for a in \"$@\"; do line=\"$line\t$a\"; done\n" +
		"printf '%s\\n' \"$line\" >> " + shellQuote(logPath) + "\n" +
		"exec " + shellQuote(target) + " \"$@\"\n"
	return os.WriteFile(path, []byte(script), 0o755)
}

// ReadArgvLog returns the argv of every call a WriteArgvLogger wrapper
// logged to path, in order.
func ReadArgvLog(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var calls [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		calls = append(calls, strings.Split(sc.Text(), "\t"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return calls, nil
}
