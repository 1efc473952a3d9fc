package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// SkipAnnotation, set to "true" on a container, keeps lxmount away from it
// (the same key the policies honour).
const SkipAnnotation = "lxmount.io/skip"

// Skipped reports whether annotations carry SkipAnnotation=true.
func Skipped(annotations map[string]string) bool {
	return strings.EqualFold(annotations[SkipAnnotation], "true")
}

// State is the container state a runtime passes to a hook on stdin:
//
//	{"ociVersion": "1.0.2", "id": "web", "status": "creating", "pid": 4242,
//	 "bundle": "/run/.../web", "annotations": {"k": "v"}}
//
// runc 1.1 leaves annotations out; crun adds "root" (root.path as given).
type State struct {
	Version     string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	PID         int               `json:"pid"`
	Bundle      string            `json:"bundle"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// maxStateSize bounds what ParseState reads: a state is a few hundred
// bytes plus the annotations.
const maxStateSize = 1 << 20

// ParseState decodes and checks a hook's state: an id, a positive pid and
// an absolute bundle path are required.
func ParseState(r io.Reader) (State, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxStateSize+1))
	if err != nil {
		return State{}, fmt.Errorf("read OCI state: %w", err)
	}
	if len(b) > maxStateSize {
		return State{}, fmt.Errorf("OCI state: larger than %d bytes", maxStateSize)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("OCI state: %w", err)
	}
	switch {
	case st.ID == "":
		return st, errors.New("OCI state: no container id")
	case st.PID <= 0:
		return st, fmt.Errorf("OCI state of %s: pid %d is not a process (a createRuntime hook gets the container's process)", st.ID, st.PID)
	case !filepath.IsAbs(st.Bundle):
		return st, fmt.Errorf("OCI state of %s: bundle %q is not an absolute path", st.ID, st.Bundle)
	}
	return st, nil
}
