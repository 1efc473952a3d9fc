package mountns

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func TestReexecInPrivateNamespace(t *testing.T) {
	requireRoot(t)
	// A shared mount in our namespace: if the helper forgot to make its
	// copy private, its tmpfs on base/sub would propagate back to us.
	base := mountTmpfs(t)
	if err := unix.Mount("", base, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", base, err)
	}
	sub := filepath.Join(base, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+sub)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read helper: %v; stderr: %s", err, stderr.String())
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("helper printed %q; stderr: %s", line, stderr.String())
	}
	pid, _ := strconv.Atoi(f[0])
	ino, _ := strconv.ParseUint(f[1], 10, 64)

	t.Run("pid survives the re-exec", func(t *testing.T) {
		if pid != cmd.Process.Pid {
			t.Errorf("helper runs as pid %d, started as %d", pid, cmd.Process.Pid)
		}
	})
	t.Run("the process is in a new mount namespace", func(t *testing.T) {
		own := nsInode(t, "/proc/self/ns/mnt")
		outside := nsInode(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/ns/mnt")
		if ino == 0 || ino == own || outside != ino {
			t.Errorf("helper sees mnt:[%d], we see it in mnt:[%d], ours is mnt:[%d]", ino, outside, own)
		}
	})
	t.Run("its tmpfs does not reach our mount table", func(t *testing.T) {
		mine, err := Mounts(os.Getpid(), mountinfo.SingleEntryFilter(sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(mine) != 0 {
			t.Errorf("helper's tmpfs propagated to us: %+v", mine[0])
		}
		theirs, err := Mounts(cmd.Process.Pid, mountinfo.SingleEntryFilter(sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(theirs) != 1 || theirs[0].FSType != "tmpfs" {
			t.Errorf("helper's own table lacks its tmpfs on %s: %+v", sub, theirs)
		}
	})
	t.Run("its copy of our shared mount is private", func(t *testing.T) {
		theirs, err := Mounts(cmd.Process.Pid, mountinfo.SingleEntryFilter(base))
		if err != nil {
			t.Fatal(err)
		}
		if len(theirs) != 1 || theirs[0].Optional != "" {
			t.Errorf("helper's %s: %+v, want one mount without shared:/master: tags", base, theirs)
		}
	})

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v; stderr: %s", err, stderr.String())
	}
}

func TestReexecInPrivateNamespaceMarked(t *testing.T) {
	// The suite itself was re-executed by TestMain when root; set the
	// marker explicitly so this also holds when not root.
	t.Setenv("LXMOUNT_MOUNTNS_TEST_MARKED", "1")
	if err := ReexecInPrivateNamespace("LXMOUNT_MOUNTNS_TEST_MARKED"); err != nil {
		t.Errorf("marked process: %v, want nil without re-exec", err)
	}
	for _, bad := range []string{"", "A=B"} {
		if err := ReexecInPrivateNamespace(bad); err == nil {
			t.Errorf("marker %q accepted", bad)
		}
	}
}
