package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Hook is one entry of config.json's hooks (runtime-spec config.md,
// "POSIX-platform Hooks").
type Hook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Timeout *int     `json:"timeout,omitempty"` // seconds
}

// HookStage is the stage lxmount's hook runs in: createRuntime, in the
// runtime's namespace once the container's namespaces exist, /proc and
// /sys are mounted in its root file system and its cgroup limits are set,
// before pivot_root. runc and crun both run it there; prestart (the same
// moment, deprecated) is left to others.
const HookStage = "createRuntime"

// HookCommand is the argument that marks `lxmount oci-hook`, and
// WrapperHookFlag the one that marks `lxmount-runc --lxmount-hook`: Args[1]
// of a hook entry of lxmount's.
const (
	HookCommand     = "oci-hook"
	WrapperHookFlag = "--lxmount-hook"
)

// isOurs reports whether an existing hook entry is lxmount's: the same
// program, or lxmount or lxmount-runc run as one of its hooks (an entry an
// oci-hooks file or an earlier version put there).
func isOurs(h Hook, want Hook) bool {
	if filepath.Clean(h.Path) == filepath.Clean(want.Path) {
		return true
	}
	if len(h.Args) < 2 || h.Args[1] != HookCommand && h.Args[1] != WrapperHookFlag {
		return false
	}
	base := filepath.Base(h.Path)
	return base == "lxmount" || base == "lxmount-runc" || base == filepath.Base(want.Path)
}

// AddHook returns config.json data with hook among its createRuntime hooks,
// and whether that changed anything. An entry that already runs the same
// program as lxmount's hook (an earlier create of the same bundle, or
// another path to the same lxmount) is replaced in place; otherwise hook
// is appended after the others. Every other member of the document is
// kept as it was.
func AddHook(data []byte, hook Hook) ([]byte, bool, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, false, fmt.Errorf("config.json: %w", err)
	}
	if doc == nil {
		return nil, false, fmt.Errorf("config.json: not a JSON object")
	}
	hooks := map[string]json.RawMessage{}
	if raw, ok := doc["hooks"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &hooks); err != nil {
			return nil, false, fmt.Errorf("config.json hooks: %w", err)
		}
	}
	var stage []json.RawMessage
	if raw, ok := hooks[HookStage]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &stage); err != nil {
			return nil, false, fmt.Errorf("config.json hooks.%s: %w", HookStage, err)
		}
	}
	enc, err := json.Marshal(hook)
	if err != nil {
		return nil, false, err
	}
	replaced := false
	for i, raw := range stage {
		var h Hook
		if json.Unmarshal(raw, &h) != nil || !isOurs(h, hook) {
			continue
		}
		if replaced {
			stage = slices.Delete(stage, i, i+1) // a duplicate: keep one
			break
		}
		if bytes.Equal(compact(raw), enc) {
			replaced = true
			continue
		}
		stage[i], replaced = enc, true
	}
	if !replaced {
		stage = append(stage, enc)
	}
	if hooks[HookStage], err = json.Marshal(stage); err != nil {
		return nil, false, err
	}
	if doc["hooks"], err = json.Marshal(hooks); err != nil {
		return nil, false, err
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false, err
	}
	var before map[string]json.RawMessage
	_ = json.Unmarshal(data, &before)
	changed := !bytes.Equal(compact(before["hooks"]), compact(doc["hooks"]))
	if !changed {
		return data, false, nil
	}
	return out, true, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// compact returns raw without insignificant space, for comparisons.
func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

// WriteConfig replaces the bundle's config.json with data atomically (a
// temporary file in the bundle, then rename), keeping its mode. No fsync:
// a bundle does not outlive a crash of its runtime, which creates it anew,
// and the rename alone never leaves a half-written file behind.
func WriteConfig(dir string, data []byte) error {
	path := filepath.Join(dir, ConfigFile)
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, ".config.json.lxmount-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
