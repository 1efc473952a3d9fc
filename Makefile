# lxmount build, test and demo entry points. CI runs `.ci/run`, which runs `make test`.
#
#   make deps       install the Debian packages the tests and the demo use (root)
#   make build      bin/lxmount, bin/lxmount-runc (the OCI runtime wrapper)
#   make vet        go vet ./...
#   make test-unit  go test ./... as the current user (integration tests skip without root)
#   make test       deps build vet, then every test as root; CI=true turns skips into failures;
#                   then every fuzz target for FUZZ_TEST_TIME (2s) each;
#                   then test-v2
#   make test-v2    the tests of integration/v2vm/tests.list inside a qemu VM on a pure
#                   cgroup v2 kernel (integration/v2vm/README.md); sudo only for apt-get
#   make test-nri-containerd
#                   opt-in, not part of `make test` (nor CI): the NRI plugin through a real
#                   containerd with NRI and its CRI (integration/nri_containerd_test.go, build
#                   tag nri_containerd; root); builds its binaries first if missing
#                   (nri-containerd-deps: containerd, its runc shim and ctr from the Go module
#                   proxy, about 20 minutes on 2 vCPUs, and the CRI client of
#                   integration/testdata/criclient) into NRI_CONTAINERD_BIN
#   make fuzz       every fuzz target (func Fuzz* in *_test.go) for FUZZTIME (60s) each
#   make bench      benchmarks: the renderers in sources/ (go test -bench), then
#                   bin/lxmount-bench (root): lxmount against procfs, LXCFS and a
#                   trivial FUSE file, 100/500 containers, a noisy neighbour; installs
#                   lxcfs if missing; report in build/bench-results.md (docs/benchmarks.md)
#   make soak       bin/lxmount-bench soak (root): 30 attached containers read and checked
#                   for SOAK_TIME (3m) while containers churn, hostile ones sit among
#                   them and the daemon is killed -9 and healed; summary, exit 1 on failure
#   make demo       deps build, then scripts/demo.sh (root)
#   make install    build, then install the binaries, the systemd units, the podman/CRI-O
#                   OCI hook and /etc/lxmount (PREFIX=/usr/local, DESTDIR; see below)
#   make uninstall  remove what install installed (an edited lxmount.toml stays)
#   make clean      remove build output

# `go` is not on PATH in every shell of the dev machine: fall back to the usual install.
# Resolved to an absolute path, which also survives sudo's reset PATH.
GO ?= go
GO := $(or $(shell command -v $(GO) 2>/dev/null),/usr/local/go/bin/go)

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)

# Targets that need root use sudo when make itself does not run as root.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# fuse3: /dev/fuse, fusermount3. procps: the real `free`/`top` that read /proc (busybox's
# `free` reads sysinfo(2) instead). runc, busybox-static: throwaway test containers.
# util-linux: nsenter, mount, unshare. python3-psutil, nodejs: runtimes whose view of
# the container's /proc the integration tests check. crun, docker.io: runtimes the
# hook and the wrapper are tested with (the tests start their own dockerd).
# nginx-light: `worker_processes auto` sized by the container's CPUs. lxcfs: reference for comparisons
# (where no init system runs, invoke-rc.d refuses to start its service; on a systemd
# host it starts as it would for any lxcfs install).
DEB_PACKAGES := fuse3 procps runc crun busybox-static util-linux python3-psutil nodejs lxcfs containerd podman docker.io nginx-light

.PHONY: all deps build vet test-unit test test-v2 test-nri-containerd nri-containerd-deps fuzz bench demo install uninstall clean

all: build

# Installs only what `dpkg -s` says is missing, so a repeated run costs a few dpkg calls.
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "deps: all of $(DEB_PACKAGES) installed"; \
	fi

# Static and without the DWARF tables: runtimes start lxmount-runc and the
# hook at every container start, and such a binary starts about 1 ms
# sooner (docs/benchmarks.md); stack traces keep their function names.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/lxmount ./cmd/lxmount
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/lxmount-runc ./cmd/lxmount-runc

vet:
	$(GO) vet ./...

test-unit:
	$(GO) test ./...

# CI is passed through explicitly because sudo resets the environment.
test: deps build vet
	$(SUDO) env CI="$(CI)" $(GO) test -count=1 -timeout 14m ./...
	$(GO) build -trimpath -o bin/lxmount-bench ./bench && $(SUDO) bin/lxmount-bench soak -lxmount bin/lxmount -duration 20s -containers 8 -nested 5 -kills 2 -heal-gap-ok
	$(call run_fuzz,$(FUZZ_TEST_TIME))
	$(MAKE) --no-print-directory test-v2

# Fuzz targets are found by name (func Fuzz... in a *_test.go), one
# `go test -fuzz` each, as the current user: they fuzz parsers, which need
# no root. New crashers land in the package's testdata/fuzz/<FuzzName>/:
# commit them with the fix. FUZZTIME for `make fuzz`, FUZZ_TEST_TIME for
# the bounded run of `make test` (20 targets, each also built: under two
# minutes here).
FUZZTIME ?= 60s
FUZZ_TEST_TIME ?= 2s
define run_fuzz
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		for fz in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -c6-); do \
			echo "fuzz $$dir $$fz for $(1)"; \
			$(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(1) $$dir; \
		done; \
	done
endef

fuzz:
	$(call run_fuzz,$(FUZZTIME))

# The host has cgroup v1: the v2 code paths run on a real cgroup v2 kernel in
# qemu. run.sh installs its own packages (qemu, cpio...) and caches the kernel
# in build/v2vm-cache; the VM's console stays in build/v2vm/console.log. Not
# under sudo, which would drop the V2VM_* settings (see run.sh): the tests run
# as root inside the VM, and run.sh uses sudo for apt-get when it needs to.
test-v2:
	GO="$(GO)" bash integration/v2vm/run.sh

# Debian 12's containerd is 1.6, without NRI: the opt-in containerd test
# needs a release with it (>= 1.7; NRI is on by default from 2.0), built
# with `go install` into NRI_CONTAINERD_BIN (a cache under build/, which
# `make clean` keeps), not into the project's go.mod. The CRI client is its
# own module (integration/testdata/criclient) for the same reason.
NRI_CONTAINERD_VERSION ?= v2.4.2
NRI_CONTAINERD_BIN ?= $(CURDIR)/build/cache/containerd-nri/bin
NRI_CONTAINERD_MOD := github.com/containerd/containerd/v2/cmd

nri-containerd-deps: $(NRI_CONTAINERD_BIN)/containerd $(NRI_CONTAINERD_BIN)/criclient

$(NRI_CONTAINERD_BIN)/containerd:
	GOBIN="$(NRI_CONTAINERD_BIN)" $(GO) install $(NRI_CONTAINERD_MOD)/containerd@$(NRI_CONTAINERD_VERSION) \
		$(NRI_CONTAINERD_MOD)/containerd-shim-runc-v2@$(NRI_CONTAINERD_VERSION) \
		$(NRI_CONTAINERD_MOD)/ctr@$(NRI_CONTAINERD_VERSION)

$(NRI_CONTAINERD_BIN)/criclient: integration/testdata/criclient/main.go integration/testdata/criclient/go.mod integration/testdata/criclient/go.sum
	cd integration/testdata/criclient && $(GO) build -o "$@" .

test-nri-containerd: nri-containerd-deps
	$(SUDO) env LXMOUNT_NRI_CONTAINERD_BIN="$(NRI_CONTAINERD_BIN)" $(GO) test -count=1 -timeout 10m \
		-tags nri_containerd -run '^TestNRIContainerd$$' -v ./integration/

# The Go benchmarks run briefly (-benchtime) to keep the whole target at a
# few minutes; lxmount-bench needs root and LXCFS (installed only when
# `dpkg -s` says it is missing, like deps). It runs in a private mount
# namespace and removes everything it made, also on Ctrl-C.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 200ms ./sources/...
	@dpkg -s lxcfs >/dev/null 2>&1 || { \
		echo "installing: lxcfs"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends lxcfs; }
	$(GO) build -trimpath -o bin/lxmount-bench ./bench
	$(SUDO) bin/lxmount-bench run -lxmount bin/lxmount -o build/bench-results.md

.PHONY: soak
# The soak (bench/soak.go, docs/benchmarks.md "Soak"): SOAK_TIME of churn, reads
# checked, kills and heals; SOAK_FLAGS adds lxmount-bench soak flags. It
# removes every cgroup, container, daemon and mount it made, also on Ctrl-C.
SOAK_TIME ?= 3m
SOAK_FLAGS ?=
soak: build
	$(GO) build -trimpath -o bin/lxmount-bench ./bench
	$(SUDO) bin/lxmount-bench soak -lxmount bin/lxmount -duration $(SOAK_TIME) $(SOAK_FLAGS)

demo: deps build
	$(SUDO) bash scripts/demo.sh

# Where `make install` puts things; every path below is prefixed with DESTDIR,
# which the installed files never name (a package build sets DESTDIR to its
# staging tree). The units, the OCI hook and the docs name $(BINDIR)/lxmount:
# the copies in configs/deploy say /usr/local/bin/lxmount, replaced as they
# are installed. UNITDIR: systemd reads /usr/local/lib/systemd/system and
# /usr/lib/systemd/system; with another PREFIX give UNITDIR=/etc/systemd/system.
# HOOKSDIR: where podman and CRI-O read oci-hooks(5) files (also
# /etc/containers/oci/hooks.d); HOOKSDIR= (empty) installs no hook.
# CONFDIR is the daemon's default --config directory: elsewhere the units
# would need --config. lxmount.toml is installed only when none exists, and
# policy.d gets the default policy as 99-default.toml.example, which is not
# loaded (only *.toml are): with no policy file the built-in default applies.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
HOOKSDIR ?= /usr/share/containers/oci/hooks.d
CONFDIR ?= /etc/lxmount
SYSTEMD_UNITS := lxmount.service lxmount-reconcile.service lxmount-reconcile.timer
POLICY_EXAMPLE := 99-default.toml.example
# Replaces the path the deploy files carry with the installed one.
SUBST_BINDIR = sed -e 's|/usr/local/bin/lxmount|$(BINDIR)/lxmount|g'

install: build
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)/policy.d
	install -m 0755 bin/lxmount bin/lxmount-runc $(DESTDIR)$(BINDIR)/
	for u in $(SYSTEMD_UNITS); do \
		$(SUBST_BINDIR) configs/deploy/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
ifneq ($(HOOKSDIR),)
	install -d -m 0755 $(DESTDIR)$(HOOKSDIR)
	$(SUBST_BINDIR) configs/deploy/oci-hooks.d/lxmount.json > $(DESTDIR)$(HOOKSDIR)/lxmount.json.tmp
	chmod 0644 $(DESTDIR)$(HOOKSDIR)/lxmount.json.tmp
	mv -f $(DESTDIR)$(HOOKSDIR)/lxmount.json.tmp $(DESTDIR)$(HOOKSDIR)/lxmount.json
endif
	@if [ -e $(DESTDIR)$(CONFDIR)/lxmount.toml ]; then \
		echo "keeping $(DESTDIR)$(CONFDIR)/lxmount.toml"; \
	else \
		echo "install -m 0644 configs/examples/lxmount.toml $(DESTDIR)$(CONFDIR)/lxmount.toml"; \
		install -m 0644 configs/examples/lxmount.toml $(DESTDIR)$(CONFDIR)/lxmount.toml; \
	fi
	install -m 0644 configs/examples/policy.d/00-default.toml $(DESTDIR)$(CONFDIR)/policy.d/$(POLICY_EXAMPLE)
	@echo "installed; on a systemd host: systemctl daemon-reload && systemctl enable --now lxmount.service"

# Removes the files install installed, and the two directories of CONFDIR
# when they are left empty. lxmount.toml goes only when it is still the
# example as installed; an edited one (or any other file in policy.d) stays.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lxmount $(DESTDIR)$(BINDIR)/lxmount-runc
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(SYSTEMD_UNITS))
ifneq ($(HOOKSDIR),)
	rm -f $(DESTDIR)$(HOOKSDIR)/lxmount.json
endif
	rm -f $(DESTDIR)$(CONFDIR)/policy.d/$(POLICY_EXAMPLE)
	@if cmp -s configs/examples/lxmount.toml $(DESTDIR)$(CONFDIR)/lxmount.toml; then \
		echo "rm -f $(DESTDIR)$(CONFDIR)/lxmount.toml"; rm -f $(DESTDIR)$(CONFDIR)/lxmount.toml; \
	elif [ -e $(DESTDIR)$(CONFDIR)/lxmount.toml ]; then \
		echo "keeping $(DESTDIR)$(CONFDIR)/lxmount.toml (edited)"; \
	fi
	@for d in $(DESTDIR)$(CONFDIR)/policy.d $(DESTDIR)$(CONFDIR); do \
		if rmdir "$$d" 2>/dev/null; then echo "rmdir $$d"; fi; \
	done

clean:
	rm -rf bin/
