// Package configs loads lxmount's settings and policies from TOML.
//
// Two kinds of file exist. The daemon configuration, normally
// /etc/lxmount/lxmount.toml (DefaultConfigPath), holds daemon settings
// (Daemon). Policies live in a directory beside it, normally
// /etc/lxmount/policy.d/*.toml, and decide for each container which virtual
// files are mounted and how they render (Policy). Load reads both; a
// missing configuration file or policy directory is not an error, and when
// no policy file exists an embedded default policy (DefaultPolicy) applies.
//
// Everything is validated when loaded: unknown keys, wrong types, bad
// globs, unknown file names, bad enum values, duplicate or empty policy
// names and conflicting settings are reported as *Error values carrying
// file:line:column, joined with errors.Join. Globs are compiled once at load
// time, so Set.Match is cheap enough to run for hundreds of containers on
// every reconcile.
//
// The package does not discover containers, watch files or mount anything:
// callers describe a container as a Container and act on the *Policy that
// Set.Match returns. See README.md in this directory for the file format.
package configs
