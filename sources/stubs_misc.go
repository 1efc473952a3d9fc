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
