package sources

import (
	"bytes"
	"time"
)

// Stubs until the renderers are written; delete this file when they are.

func renderCpuinfo(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderStat(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderUptime(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

func renderCPUOnline(c *Container, now time.Time, buf *bytes.Buffer) error {
	return errNotImplemented
}

// statState is defined by the /proc/stat renderer.
type statState struct{}
