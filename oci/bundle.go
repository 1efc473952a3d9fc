package oci

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ConfigFile is the bundle's configuration, beside the root file system.
const ConfigFile = "config.json"

// Bundle is what lxmount reads of a bundle's config.json.
type Bundle struct {
	// Dir is the bundle directory.
	Dir string
	// Rootfs is the container's root file system: root.path, resolved
	// against Dir when relative, as runtimes do.
	Rootfs string
	// Annotations are the config's annotations; nil when there are none.
	Annotations map[string]string
	// Hostname is the config's hostname, "" when unset.
	Hostname string
	// CgroupsPath is linux.cgroupsPath, "" when unset.
	CgroupsPath string
	// Mounts are the config's mounts, destination and source only.
	Mounts []Mount
}

// Mount is one entry of config.json's mounts.
type Mount struct {
	Destination string `json:"destination"`
	Source      string `json:"source,omitempty"`
}

// config is the subset of config.json that Bundle is made of.
type config struct {
	Root *struct {
		Path string `json:"path"`
	} `json:"root"`
	Hostname    string            `json:"hostname"`
	Annotations map[string]string `json:"annotations"`
	Mounts      []Mount           `json:"mounts"`
	Linux       *struct {
		CgroupsPath string `json:"cgroupsPath"`
	} `json:"linux"`
}

// ReadBundle reads dir's config.json.
func ReadBundle(dir string) (Bundle, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Bundle{}, fmt.Errorf("read bundle config: %w", err)
	}
	b, err := ParseConfig(dir, data)
	if err != nil {
		return Bundle{}, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ParseConfig decodes the config.json of bundle dir. root.path is
// required: a hook cannot find the container's files without it.
func ParseConfig(dir string, data []byte) (Bundle, error) {
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return Bundle{}, err
	}
	if c.Root == nil || c.Root.Path == "" {
		return Bundle{}, fmt.Errorf("no root.path")
	}
	b := Bundle{Dir: dir, Annotations: c.Annotations, Hostname: c.Hostname, Mounts: c.Mounts}
	b.Rootfs = c.Root.Path
	if !filepath.IsAbs(b.Rootfs) {
		b.Rootfs = filepath.Join(dir, b.Rootfs)
	}
	b.Rootfs = filepath.Clean(b.Rootfs)
	if c.Linux != nil {
		b.CgroupsPath = c.Linux.CgroupsPath
	}
	return b, nil
}

// MountSource returns the source of the mount on destination, "" if none.
func (b Bundle) MountSource(destination string) string {
	for _, m := range b.Mounts {
		if filepath.Clean(m.Destination) == destination {
			return m.Source
		}
	}
	return ""
}
