package configs

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestControlBytesAreErrors: a file holding a lone control byte (0x04
// crashed the daemon at SIGHUP: offsetPos indexed line -1) or other
// undecodable bytes is a positioned error, never a panic.
func TestControlBytesAreErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"EOT":            {0x04},
		"NUL":            {0x00},
		"EOT after text": []byte("[[policy]]\nname = \"a\"\n\x04"),
		"lone quote":     []byte(`"`),
		"invalid UTF-8":  []byte("a = \"\xff\"\n"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePolicies("p.toml", data); err == nil {
				t.Errorf("ParsePolicies accepted %q", data)
			} else if errors.Is(err, errParserPanic) {
				t.Errorf("ParsePolicies panicked: %v", err)
			}
			if _, err := parseDaemon("/etc/lxmount/lxmount.toml", data); err == nil {
				t.Errorf("parseDaemon accepted %q", data)
			} else if errors.Is(err, errParserPanic) {
				t.Errorf("parseDaemon panicked: %v", err)
			}
		})
	}
}

// TestBadFileKeepsLoadAnError: Load (what SIGHUP and every reconcile
// call) returns an error for a policy directory whose file holds 0x04,
// so the daemon keeps its last good policies.
func TestBadFileKeepsLoadAnError(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"policy.d/00-good.toml": "[[policy]]\nname = \"good\"\n",
	})
	cfg := filepath.Join(dir, "lxmount.toml")
	if _, err := Load(cfg); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"policy.d/10-bad.toml": "\x04"})
	_, err := Load(cfg)
	var e *Error
	if !errors.As(err, &e) || e.File != filepath.Join(dir, "policy.d/10-bad.toml") {
		t.Fatalf("Load = %v, want an *Error naming 10-bad.toml", err)
	}
}
