package supervisor

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestGuardRecoversPanic: a panic in per-container work comes back as an
// error and is logged with the container's id; the caller goes on.
func TestGuardRecoversPanic(t *testing.T) {
	var logs bytes.Buffer
	s := &Supervisor{log: slog.New(slog.NewTextHandler(&logs, nil))}
	err := s.guard("web-1", "reconcile", func() error {
		var m map[string]int
		m["x"]++ // assignment to entry in nil map
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "reconcile: panic") {
		t.Fatalf("guard returned %v, want the panic as an error", err)
	}
	if out := logs.String(); !strings.Contains(out, "id=web-1") || !strings.Contains(out, "nil map") {
		t.Errorf("log does not name the container and the panic: %s", out)
	}
	if err := s.guard("web-1", "x", func() error { return nil }); err != nil {
		t.Errorf("guard without a panic: %v", err)
	}
}
