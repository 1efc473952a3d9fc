# lxmount build, test and demo entry points. CI runs `.ci/run`, which runs `make test`.
#
#   make deps       install the Debian packages the tests and the demo use (root)
#   make build      bin/lxmount, bin/lxmount-runc (the OCI runtime wrapper)
#   make vet        go vet ./...
#   make test-unit  go test ./... as the current user (integration tests skip without root)
#   make test       deps build vet, then every test as root; CI=true turns skips into failures;
#                   then test-v2
#   make test-v2    the tests of integration/v2vm/tests.list inside a qemu VM on a pure
#                   cgroup v2 kernel (integration/v2vm/README.md); sudo only for apt-get
#   make bench      benchmarks: the renderers in sources/ (go test -bench), then
#                   bin/lxmount-bench (root): lxmount against procfs, LXCFS and a
#                   trivial FUSE file, 100/500 containers, a noisy neighbour; installs
#                   lxcfs if missing; report in build/bench-results.md (docs/benchmarks.md)
#   make demo       deps build, then scripts/demo.sh (root)
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

.PHONY: all deps build vet test-unit test test-v2 bench demo clean

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

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/lxmount ./cmd/lxmount
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/lxmount-runc ./cmd/lxmount-runc

vet:
	$(GO) vet ./...

test-unit:
	$(GO) test ./...

# CI is passed through explicitly because sudo resets the environment.
test: deps build vet
	$(SUDO) env CI="$(CI)" $(GO) test -count=1 -timeout 14m ./...
	$(MAKE) --no-print-directory test-v2

# The host has cgroup v1: the v2 code paths run on a real cgroup v2 kernel in
# qemu. run.sh installs its own packages (qemu, cpio...) and caches the kernel
# in build/v2vm-cache; the VM's console stays in build/v2vm/console.log. Not
# under sudo, which would drop the V2VM_* settings (see run.sh): the tests run
# as root inside the VM, and run.sh uses sudo for apt-get when it needs to.
test-v2:
	GO="$(GO)" bash integration/v2vm/run.sh

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

demo: deps build
	$(SUDO) bash scripts/demo.sh

clean:
	rm -rf bin/
