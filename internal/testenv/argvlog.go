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
// stderr are the runtime's (callers parse `runc state` output, for one), so
// it writes nothing else. ReadArgvLog parses the log.
//
// What each engine passes its runtime, observed on Debian 12 with this
// wrapper (integration/runtimes_harness_test.go,
// TestRuntimeHarnessArgv) in front of runc 1.1.5, <...> standing for
// paths and ids that vary:
//
// Docker 20.10 (dockerd -> containerd 1.6 -> containerd-shim-runc-v2). A
// daemon.json runtime with "runtimeArgs" is not called directly: dockerd
// writes a script <exec-root>/runtimes/<name>,
//
//	#!/bin/sh
//	<path> <runtimeArgs...> "$@"
//
// and gives the shim that script as its runc binary. So the runtimeArgs
// come first, before the shim's own global flags, and the wrapper sees,
// for `docker run` (runtimeArgs ["--lxmount-test-arg"] here):
//
//	<path> --lxmount-test-arg --root <exec-root>/runtime-runc/moby --log <state>/io.containerd.runtime.v2.task/moby/<id>/log.json --log-format json create --bundle <state>/io.containerd.runtime.v2.task/moby/<id> --pid-file <bundle>/init.pid <id>
//	<path> --lxmount-test-arg --root ... --log ... --log-format json start <id>
//	<path> --lxmount-test-arg --root ... --log ... --log-format json delete <id>
//
// (`docker run -t` adds --console-socket <socket> to create; the shim
// passes --systemd-cgroup only with native.cgroupdriver=systemd.) A
// runtime without runtimeArgs is given to the shim as its path directly:
// same argv without the extra arguments. dockerd's own `runc` is
// /usr/bin/runc, called the same way.
//
// containerd 1.6, `ctr run --runc-binary <path>` (runc v2 shim): as under
// Docker without runtimeArgs, with --root /run/containerd/runc/<namespace>
// unless `--runc-root` is given, and the bundle under the daemon's state
// directory:
//
//	<path> --root <root>/<namespace> --log <state>/io.containerd.runtime.v2.task/<namespace>/<id>/log.json --log-format json create --bundle <state>/io.containerd.runtime.v2.task/<namespace>/<id> --pid-file <bundle>/init.pid <id>
//	<path> --root ... --log ... --log-format json start <id>
//	<path> --root ... --log ... --log-format json delete <id>
//
// Podman 4.3 (`podman --runtime <path>`, through conmon 2.1.6): no global
// flags at all (no --root: runc's default /run/runc; no --log) unless
// given with `podman --runtime-flag`; create's flags come from conmon:
//
//	<path> create --bundle <root>/overlay-containers/<id>/userdata --pid-file <runroot>/overlay-containers/<id>/userdata/pidfile <id>
//	<path> start <id>
//	<path> delete --force <id>
//
// (a container still running at `podman rm -f` also gets `kill <id> 9`
// before the delete; `podman run -t` adds --console-socket to create).
// The runtime's state is found through `<path> state <id>`, which podman
// also calls.
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
