package sources

import (
	"bytes"
	"time"
)

// Stubs until the renderers are written; delete this file when they are.

func renderLoadavg(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderDiskstats(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderPressureCPU(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderPressureMemory(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderPressureIO(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

// loadState is defined by the /proc/loadavg renderer.
type loadState struct{}

// TaskStates counts a cgroup's tasks by scheduler state.
type TaskStates struct {
	Total           int // every task (thread) in the cgroup
	Running         int // state R
	Uninterruptible int // state D
}

// readTaskStates counts the tasks of the container's cgroup by state, from
// the cgroup's task list and the host's /proc/<tid>/stat.
func readTaskStates(h Host, cg Cgroup) (TaskStates, error) {
	return TaskStates{}, errNotImplemented
}
