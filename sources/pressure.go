package sources

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Pressure stall information (kernel/sched/psi.c) is kept per cgroup in the
// v2 hierarchy only: <resource>.pressure holds exactly the format of
// /proc/pressure/<resource>, for the cgroup's tasks. On a hybrid host the
// unified hierarchy has these files even without any controller enabled,
// since PSI follows each task's cgroup2 membership.
//
//	some avg10=7.64 avg60=1.58 avg300=0.33 total=1080811
//	full avg10=7.49 avg60=1.55 avg300=0.33 total=1051565

// renderPressureCPU serves /proc/pressure/cpu.
func renderPressureCPU(c *Container, now time.Time, buf *bytes.Buffer) error {
	return renderPressure(c, "cpu", buf)
}

// renderPressureMemory serves /proc/pressure/memory.
func renderPressureMemory(c *Container, now time.Time, buf *bytes.Buffer) error {
	return renderPressure(c, "memory", buf)
}

// renderPressureIO serves /proc/pressure/io.
func renderPressureIO(c *Container, now time.Time, buf *bytes.Buffer) error {
	return renderPressure(c, "io", buf)
}

// renderPressure copies the cgroup's <resource>.pressure unchanged. If it
// is gone (cgroup removed, or PSI switched off for it through
// cgroup.pressure) the host's /proc/pressure/<resource> is served instead.
func renderPressure(c *Container, resource string, buf *bytes.Buffer) error {
	r := c.fileReader()
	defer c.putReader(r)
	if c.Cgroup.V2 != "" {
		b, err := r.file(c.Cgroup.V2, resource+".pressure")
		if err == nil {
			buf.Write(b)
			return nil
		}
		if !isVanished(err) && !errors.Is(err, syscall.EOPNOTSUPP) {
			return err
		}
	}
	b, err := r.file(c.Host.ProcRoot, "pressure/"+resource)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// pressureAvailable returns File.available for /proc/pressure/<resource>:
// the container's v2 cgroup has <resource>.pressure (absent without
// CONFIG_PSI, with psi=0, or with cgroup.pressure set to 0) and the host
// has /proc/pressure/<resource> (a container should not see a pressure
// file its host kernel does not have).
func pressureAvailable(resource string) func(c *Container) bool {
	return func(c *Container) bool {
		if c.Cgroup.V2 == "" {
			return false
		}
		if _, err := os.Stat(filepath.Join(c.Cgroup.V2, resource+".pressure")); err != nil {
			return false
		}
		_, err := os.Stat(c.Host.proc("pressure/" + resource))
		return err == nil
	}
}
