package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testTree makes a small tree: a directory, an executable, a symlink and
// a sticky world-writable directory.
func testTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("tool", filepath.Join(dir, "bin", "alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarEntries reads a tar into name -> header, and name -> content.
func tarEntries(t *testing.T, r io.Reader) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, b
	}
}

func TestWriteRootfsTar(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRootfsTar(testTree(t), &buf); err != nil {
		t.Fatal(err)
	}
	hdrs, data := tarEntries(t, &buf)
	var names []string
	for n := range hdrs {
		names = append(names, n)
	}
	want := map[string]byte{"bin/": tar.TypeDir, "bin/tool": tar.TypeReg, "bin/alias": tar.TypeSymlink, "tmp/": tar.TypeDir}
	if len(hdrs) != len(want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	for name, typ := range want {
		h, ok := hdrs[name]
		if !ok || h.Typeflag != typ {
			t.Errorf("entry %q: %+v, want type %q", name, h, typ)
		}
	}
	if h := hdrs["bin/alias"]; h != nil && h.Linkname != "tool" {
		t.Errorf("symlink target %q, want tool", h.Linkname)
	}
	if h := hdrs["bin/tool"]; h != nil && (h.Mode&0o777 != 0o755 || string(data["bin/tool"]) != "#!/bin/sh\n") {
		t.Errorf("bin/tool mode %o content %q", h.Mode, data["bin/tool"])
	}
	if h := hdrs["tmp/"]; h != nil && h.Mode&0o1777 != 0o1777 {
		t.Errorf("tmp/ mode %o, want sticky 1777", h.Mode)
	}
}

// TestWriteOCIArchive checks the layout's chain: index.json names the
// manifest by digest and ref, the manifest the config and the layer, each
// blob's name is its sha256, and the config's diff ID is the layer's.
func TestWriteOCIArchive(t *testing.T) {
	var buf bytes.Buffer
	const ref = "docker.io/lxmount/busybox:test"
	if err := WriteOCIArchive(testTree(t), ref, &buf); err != nil {
		t.Fatal(err)
	}
	_, files := tarEntries(t, &buf)
	for name, b := range files {
		if dir, file := filepath.Split(name); dir == "blobs/sha256/" && file != "" {
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != file {
				t.Errorf("blob %s has digest %x", name, sum)
			}
		}
	}
	var index struct {
		Manifests []ociDescriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", files["index.json"], err)
	}
	m := index.Manifests[0]
	if m.Annotations["io.containerd.image.name"] != ref || m.Annotations["org.opencontainers.image.ref.name"] != ref {
		t.Errorf("index annotations %v, want ref %s", m.Annotations, ref)
	}
	var manifest struct {
		Config ociDescriptor   `json:"config"`
		Layers []ociDescriptor `json:"layers"`
	}
	if err := json.Unmarshal(files[blobPath(m)], &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest %s: %v", files[blobPath(m)], err)
	}
	var config struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[blobPath(manifest.Config)], &config); err != nil {
		t.Fatal(err)
	}
	if want := []string{manifest.Layers[0].Digest}; !reflect.DeepEqual(config.RootFS.DiffIDs, want) {
		t.Errorf("diff_ids %v, want %v (uncompressed layer)", config.RootFS.DiffIDs, want)
	}
	if layer := files[blobPath(manifest.Layers[0])]; int64(len(layer)) != manifest.Layers[0].Size {
		t.Errorf("layer size %d, descriptor says %d", len(layer), manifest.Layers[0].Size)
	}
}

// TestArgvLogger runs a WriteArgvLogger wrapper in front of a script
// that prints its arguments: the target gets them unchanged (spaces, empty
// ones), the output is the target's alone, and the log has one line per
// call.
func TestArgvLogger(t *testing.T) {
	dir := t.TempDir()
	wrapper, log, target := filepath.Join(dir, "wrapper"), filepath.Join(dir, "it's.log"), filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteArgvLogger(wrapper, log, target); err != nil {
		t.Fatal(err)
	}
	calls := [][]string{{"--root", "/run/x", "create", "a b", ""}, {"--version"}}
	for _, args := range calls {
		out, err := exec.Command(wrapper, args...).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := "[" + strings.Join(args, "][") + "]"; string(out) != want {
			t.Errorf("output %q, want the target's %q", out, want)
		}
	}
	got, err := ReadArgvLog(log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		calls[i] = append([]string{wrapper}, calls[i]...)
	}
	if !reflect.DeepEqual(got, calls) {
		t.Errorf("logged %q, want %q", got, calls)
	}
}
