// Package deploy holds no code. Its directory holds the files that deploy
// lxmount (systemd units, a cron line, Kubernetes manifests, a Dockerfile;
// README.md describes them), and its tests check those files as far as a
// machine without systemd as init, a cron daemon, a cluster or a Docker
// engine can: they parse, hold what README.md says they hold, their lxmount
// settings load with the configs package, and every lxmount command line in
// them is accepted by the CLI.
package deploy
