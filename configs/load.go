package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Set is everything Load read: the daemon settings and the policies in the
// order they are tried.
type Set struct {
	// Daemon holds the daemon settings, defaults filled in.
	Daemon Daemon
	// ConfigFile is the configuration file that was read, or "" when it
	// did not exist and the defaults apply.
	ConfigFile string
	// Policies are tried in order by Match: files in name order, tables
	// within a file in order. It is [DefaultPolicy()] when Files is empty.
	Policies []*Policy
	// Files are the policy files loaded, in the order applied.
	Files []string
}

// Load reads the daemon configuration at configPath (DefaultConfigPath when
// "") and the policy files in its policy directory. A missing configuration
// file means defaults, a missing policy directory means no policy files;
// with no policy file the embedded DefaultPolicy applies. Policy files are
// the directory's *.toml files, in byte order of their names, except those
// whose name starts with ".". Every problem in every file is reported:
// the error joins *Error values carrying file:line:column.
func Load(configPath string) (*Set, error) {
	d, file, err := loadDaemon(configPath)
	if err != nil {
		return nil, err
	}
	s := &Set{Daemon: d, ConfigFile: file}
	if s.Files, err = policyFiles(s.Daemon.PolicyDir); err != nil {
		return nil, err
	}
	if len(s.Files) == 0 {
		s.Policies = []*Policy{DefaultPolicy()}
		return s, nil
	}
	if s.Policies, err = LoadPolicies(s.Files...); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadDaemon reads only the daemon settings of the configuration file at
// configPath ("" for DefaultConfigPath; a missing file means defaults), not
// the policies: what a client of the daemon (the CLI, the OCI hook) needs,
// whatever state the policy files are in.
func LoadDaemon(configPath string) (Daemon, error) {
	d, _, err := loadDaemon(configPath)
	return d, err
}

// loadDaemon is LoadDaemon, also returning the file read ("" when it
// did not exist).
func loadDaemon(configPath string) (Daemon, string, error) {
	if configPath == "" {
		configPath = DefaultConfigPath
	}
	file := configPath
	data, err := os.ReadFile(configPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		file = ""
		data = nil
	case err != nil:
		return Daemon{}, "", fmt.Errorf("load config: %w", err)
	}
	d, err := parseDaemon(configPath, data)
	if err != nil {
		return Daemon{}, "", err
	}
	return d, file, nil
}

// policyFiles lists the policy files of dir in the order they apply.
func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".toml") {
			continue
		}
		files = append(files, filepath.Join(dir, name))
	}
	return files, nil
}

// LoadPolicies reads and validates policy files in the order given, as
// `lxmount policy check FILE...` does. Names must be unique across the
// files. Every problem in every file is reported: the error joins *Error
// values carrying file:line:column.
func LoadPolicies(files ...string) ([]*Policy, error) {
	var (
		all  []*Policy
		errs []error
		seen = make(map[string]*Policy)
	)
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("load policies: %w", err))
			continue
		}
		ps, err := parsePolicies(file, data, seen)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, ps...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return all, nil
}
