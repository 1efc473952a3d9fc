package testenv

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PodmanPath is Debian's Podman 4.3.
const PodmanPath = "/usr/bin/podman"

// PodmanOptions configures Podman.
type PodmanOptions struct {
	// Runtime is the OCI runtime binary, `podman --runtime` ("": RuncPath).
	// Podman 4.3's default, crun, fails on a hybrid cgroup host: give
	// CrunWrapper(t) to run crun.
	Runtime string
	// HooksDir is `podman --hooks-dir` ("": an empty directory of the
	// env's own, so the host's /usr/share/containers/oci/hooks.d is not
	// used).
	HooksDir string
	// RuntimeFlags are `podman --runtime-flag` values ("log-format=json"
	// passes --log-format=json): Podman passes its runtime no global flag
	// of its own.
	RuntimeFlags []string
}

// PodmanEnv is a Podman of one test, made by Podman: every podman command
// Run runs uses the env's own storage, state, configuration and hooks
// under Dir, the cgroupfs manager and file events (there is no systemd
// here), and the runtime of PodmanOptions.
type PodmanEnv struct {
	// Dir holds root/ (--root), runroot/ (--runroot), tmp/ (--tmpdir,
	// libpod's state and the events log), hooks/, net/ and the generated
	// containers.conf, storage.conf and registries.conf.
	Dir     string
	Root    string
	RunRoot string
	TmpDir  string
	// HooksDir and Runtime are what every command gets as --hooks-dir and
	// --runtime.
	HooksDir string
	Runtime  string
	// CgroupParent, "/lxmount-test-podman-<random>", is for `run` and
	// `create`: `--cgroup-parent` + CgroupParent puts the container's
	// cgroup at <CgroupParent>/libpod-<id> and conmon's at
	// <CgroupParent>/conmon, which cleanup removes. Podman 4.3 has no
	// global setting for it; without the flag they go under /libpod_parent,
	// whose container groups podman removes with the container but whose
	// conmon group stays (shared by every podman on the host).
	CgroupParent string

	globals []string
	env     []string
}

// Podman prepares a PodmanEnv (nothing runs until Run) and registers its
// cleanup, which runs also when the test fails: `podman rm -af -t 0` and
// `podman rmi -af`, waits for the env's conmon and `podman container
// cleanup` processes to exit (then kills them, reported as an error), lazily
// unmounts what is left under Dir (containers/storage's overlay mounts),
// removes the CgroupParent tree and Dir. The runtime and the hooks
// directory must outlive that cleanup, which still runs the runtime: make
// them before Podman. Skips (fails under CI=true) without root, podman,
// conmon or the runtime.
//
// The generated containers.conf (CONTAINERS_CONF, so no host file is read)
// sets file locks under TmpDir instead of the host-wide shared-memory
// segment /dev/shm/libpod_lock, network mode none by default (no CNI
// config or netavark here; pass --network to override), and
// default_ulimits: Podman 4.3 run as root asks for nofile and nproc
// 1048576 (its own RLIMIT_NPROC it first lowers to 32768), which fails
// ("error setting rlimit type 7: operation not permitted") where the
// caller's hard limits are lower and CAP_SYS_RESOURCE is not in the
// bounding set, as on this project's machines; the env asks for the
// caller's hard limits instead, nproc capped at 32768 and pid_max.
func Podman(t testing.TB, opts PodmanOptions) *PodmanEnv {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, PodmanPath, "conmon")
	runtime := opts.Runtime
	if runtime == "" {
		runtime = RuncPath
	}
	RequireCommands(t, runtime)

	dir := shortTempDir(t, "lxm-podman-")
	p := &PodmanEnv{
		Dir:          dir,
		Root:         filepath.Join(dir, "root"),
		RunRoot:      filepath.Join(dir, "runroot"),
		TmpDir:       filepath.Join(dir, "tmp"),
		HooksDir:     opts.HooksDir,
		Runtime:      runtime,
		CgroupParent: "/lxmount-test-podman-" + randomHex(t, 4),
	}
	missing := missingHostDirs()
	t.Cleanup(func() {
		p.cleanup(t)
		removeHostDirs(t, missing)
	})
	if p.HooksDir == "" {
		p.HooksDir = filepath.Join(dir, "hooks")
	}
	for _, d := range []string{p.Root, p.RunRoot, p.TmpDir, filepath.Join(dir, "hooks"), filepath.Join(dir, "net")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("podman: %v", err)
		}
	}
	nofile, nproc, err := podmanUlimits()
	if err != nil {
		t.Fatalf("podman: %v", err)
	}
	files := map[string]string{
		"containers.conf": fmt.Sprintf(`# lxmount testenv.Podman
[containers]
netns = "none"
default_ulimits = ["nofile=%[1]d:%[1]d", "nproc=%[2]d:%[2]d"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = %[3]q

[network]
network_config_dir = %[4]q
`, nofile, nproc, p.TmpDir, filepath.Join(dir, "net")),
		"storage.conf": fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", p.Root, p.RunRoot),
		// No registries: images come from ImportRootfs only.
		"registries.conf": "unqualified-search-registries = []\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatalf("podman: %v", err)
		}
	}
	p.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf"),
		"TMPDIR=" + p.TmpDir, // image copies (default /var/tmp)
	}
	p.globals = []string{
		"--root", p.Root,
		"--runroot", p.RunRoot,
		"--tmpdir", p.TmpDir,
		"--storage-driver", "overlay",
		"--cgroup-manager=cgroupfs",
		"--events-backend=file",
		"--hooks-dir", p.HooksDir,
		"--network-config-dir", filepath.Join(dir, "net"),
		"--volumepath", filepath.Join(p.Root, "volumes"),
		"--runtime", p.Runtime,
	}
	for _, f := range opts.RuntimeFlags {
		p.globals = append(p.globals, "--runtime-flag", f)
	}
	return p
}

// podmanUlimits returns the nofile and nproc limits the env's containers
// get: the caller's hard limits, nproc no more than 32768 and pid_max
// (see Podman).
func podmanUlimits() (nofile, nproc uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	nofile = lim.Max
	const rlimitNPROC = 6 // RLIMIT_NPROC, not in package syscall
	if err := syscall.Getrlimit(rlimitNPROC, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit nproc: %w", err)
	}
	nproc = min(lim.Max, 32768)
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		if pidMax, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			nproc = min(nproc, pidMax)
		}
	}
	return nofile, nproc, nil
}

// Run runs podman with the env's global flags and then args, and returns
// its stdout and stderr; err carries the exit status and stderr.
func (p *PodmanEnv) Run(args ...string) (stdout, stderr string, err error) {
	return runClient(p.env, PodmanPath, append(append([]string{}, p.globals...), args...)...)
}

// ImportRootfs imports the root filesystem at rootfsDir as the image
// imageName (e.g. "lxmount/busybox:test", stored as
// "localhost/lxmount/busybox:test"): WriteRootfsTar to a file under
// t.TempDir(), then `podman import`.
func (p *PodmanEnv) ImportRootfs(t testing.TB, rootfsDir, imageName string) {
	t.Helper()
	archive := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := writeTarFile(archive, func(w io.Writer) error { return WriteRootfsTar(rootfsDir, w) }); err != nil {
		t.Fatalf("podman import %s: %v", imageName, err)
	}
	if _, _, err := p.Run("import", "--quiet", archive, imageName); err != nil {
		t.Fatalf("podman import %s: %v", imageName, err)
	}
}

// cleanup is Podman's t.Cleanup.
func (p *PodmanEnv) cleanup(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(p.Dir, "containers.conf")); err == nil {
		if _, _, err := p.Run("rm", "--all", "--force", "--time", "0"); err != nil {
			t.Errorf("podman cleanup: %v", err)
		}
		if _, _, err := p.Run("rmi", "--all", "--force"); err != nil {
			t.Errorf("podman cleanup: %v", err)
		}
	}
	// conmon (-b <Root>/overlay-containers/...) and the `podman container
	// cleanup` it runs when a container exits name Root in their argv.
	waitUntil(5*time.Second, func() bool {
		procs, err := FindProcs(p.Root)
		return err == nil && len(procs) == 0
	}, nil)
	killProcs(t, "podman", p.Root)
	removeCgroupTree(t, "podman", p.CgroupParent)
	removeTree(t, "podman", p.Dir)
}
