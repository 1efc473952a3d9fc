package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// WriteRootfsTar writes the tree at dir to w as an uncompressed tar whose
// entries are relative to dir ("bin/busybox", "bin/sh" -> busybox, ...), in
// lexical order, with each file's mode, owner and mtime: the input of
// `docker import` and `podman import`, and the layer of WriteOCIArchive.
// Directories, regular files and symlinks are written; other file types
// (devices, sockets, fifos) are refused, since a test rootfs has none.
func WriteRootfsTar(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode().IsRegular(), fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: file type %v not supported in a test rootfs", path, fi.Mode().Type())
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// OCI media types (image-spec v1.0).
const (
	mediaTypeOCIIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeOCILayer    = "application/vnd.oci.image.layer.v1.tar"
)

// ociDescriptor is an image-spec content descriptor.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *ociPlatform      `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ociPlatform is a descriptor's platform.
type ociPlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// WriteOCIArchive writes to w a tar of an OCI image layout (image-spec
// image-layout.md) holding one image: a single uncompressed layer, the tar
// of rootfsDir (WriteRootfsTar), a config for linux/GOARCH with Cmd
// ["/bin/sh"] and a standard PATH, its manifest, and an index.json naming
// it ref through both the "org.opencontainers.image.ref.name" and
// containerd's "io.containerd.image.name" annotations, so `ctr images
// import` stores the image under ref exactly:
//
//	oci-layout                 {"imageLayoutVersion":"1.0.0"}
//	index.json                 -> manifest
//	blobs/sha256/<manifest>    -> config, layer
//	blobs/sha256/<config>
//	blobs/sha256/<layer>
func WriteOCIArchive(rootfsDir, ref string, w io.Writer) error {
	return WriteOCIArchiveCmd(rootfsDir, ref, []string{"/bin/sh"}, w)
}

// WriteOCIArchiveCmd is WriteOCIArchive with cmd as the config's Cmd (a
// CRI sandbox image's must keep running: e.g. sleep).
func WriteOCIArchiveCmd(rootfsDir, ref string, cmd []string, w io.Writer) error {
	var layer bytes.Buffer
	if err := WriteRootfsTar(rootfsDir, &layer); err != nil {
		return err
	}
	layerDesc := describe(mediaTypeOCILayer, layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"created":      time.Now().UTC().Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": cmd,
		},
		// Uncompressed, so the layer's digest is also its diff ID.
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
		"history": []map[string]string{{"created_by": "lxmount testenv.WriteOCIArchive"}},
	})
	if err != nil {
		return err
	}
	configDesc := describe(mediaTypeOCIConfig, config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeOCIManifest,
		"config":        configDesc,
		"layers":        []ociDescriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := describe(mediaTypeOCIManifest, manifest)
	manifestDesc.Platform = &ociPlatform{Architecture: runtime.GOARCH, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          ref,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeOCIIndex,
		"manifests":     []ociDescriptor{manifestDesc},
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	now := time.Now()
	add := func(name string, data []byte) error {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(manifestDesc), manifest},
		{blobPath(configDesc), config},
		{blobPath(layerDesc), layer.Bytes()},
	} {
		if err := add(f.name, f.data); err != nil {
			return fmt.Errorf("oci archive %s: %w", f.name, err)
		}
	}
	return tw.Close()
}

// describe returns the descriptor of data with media type mt.
func describe(mt string, data []byte) ociDescriptor {
	sum := sha256.Sum256(data)
	return ociDescriptor{MediaType: mt, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// blobPath is where a layout keeps the blob d describes.
func blobPath(d ociDescriptor) string {
	return "blobs/sha256/" + d.Digest[len("sha256:"):]
}

// writeTarFile writes a tar made by write to a new file at path.
func writeTarFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
