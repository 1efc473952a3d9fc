#!/usr/bin/env bash
# `make test-v2`: runs the Go tests listed in tests.list on a real pure
# cgroup v2 kernel. It boots Debian's cloud kernel in qemu (TCG) with an
# initramfs holding static test binaries, busybox, a few host tools and
# fuse.ko; the VM's init (init beside this file) runs each binary and prints
# the results to the serial console, which this script reads back.
#
# Fails when a test binary fails inside, when the VM does not finish within
# V2VM_TIMEOUT seconds (qemu is then killed by its PID), when the VM could
# not be set up, or when no test passed at all. The console output stays in
# build/v2vm/console.log; its tail is printed on failure.
#
# Environment (all optional):
#   GO               go command (default: go on PATH, else /usr/local/go/bin/go)
#   V2VM_TIMEOUT     seconds the VM may run (default 1500)
#   V2VM_TEST_TIMEOUT  seconds: -test.timeout of each test binary (default 900);
#                    the VM's init kills a binary that is still there 10 s later
#   V2VM_TEST_ARGS   extra flags for every test binary, e.g. -test.run=TestMemory
#   V2VM_ACCEL       qemu accelerator: tcg (default) or kvm; kvm is opt-in because
#                    a nested-KVM guest hung at boot on the dev machine
#   V2VM_KERNEL_PKG  kernel package (default: what linux-image-cloud-amd64 depends on)
#   V2VM_CACHE       kernel cache directory (default build/v2vm-cache)
#   V2VM_LIST        a list to use instead of tests.list, e.g. with fewer packages
#   V2VM_COMMANDS    commands to build into the VM (default cmd/lxmount)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
out=$repo/build/v2vm
cache=${V2VM_CACHE:-$repo/build/v2vm-cache}
timeout=${V2VM_TIMEOUT:-1500}
test_timeout=${V2VM_TEST_TIMEOUT:-900}
accel=${V2VM_ACCEL:-tcg}
list=${V2VM_LIST:-$here/tests.list}
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)

# Debian packages this script needs on the host: qemu, cpio to pack the
# initramfs, and the packages whose binaries go into the VM.
packages=(qemu-system-x86 cpio busybox-static fuse3 runc util-linux procps
	python3-psutil nodejs lxcfs)

# Host programs copied into the VM at the same path (a symlink as a symlink,
# plus its target), with the shared libraries ldd lists for them. busybox
# provides everything else (sh, cat, sleep...); these replace its applets where
# the tests need the real tool: fusermount3 (FUSE mounts), runc (startRunc),
# unshare --kill-child and nsenter (mountns and integration helpers), util-linux
# mount (--make-rprivate); and the programs whose view of /proc the integration
# tests check (procps, coreutils nproc, getconf, python3 with psutil, node) and
# lxcfs, the reference they are compared with.
host_tools=(/usr/bin/fusermount3 /usr/sbin/runc /usr/bin/unshare /usr/bin/nsenter
	/usr/bin/mount /usr/bin/umount
	/usr/bin/free /usr/bin/top /usr/bin/uptime /usr/bin/ps /usr/bin/pgrep /usr/bin/vmstat
	/usr/bin/nproc /usr/bin/env /usr/bin/getconf
	/usr/bin/python3 /usr/bin/node /usr/bin/lxcfs)

# Whole host directories copied as they are, for programs that need more than
# their libraries (the VM's root is a tmpfs in its RAM: mind the size), and
# what to leave out of them.
# /usr/lib/terminfo: top exits 1 without an entry for TERM (linux here).
host_trees=(/usr/lib/python3.11 /usr/lib/python3/dist-packages/psutil
	/usr/lib/x86_64-linux-gnu/lxcfs /usr/lib/terminfo)
host_tree_excludes=('usr/lib/python3.11/config-3.11-*' usr/lib/python3.11/test
	usr/lib/python3/dist-packages/psutil/tests)

# Commands built with `go build` into /src/bin/<name> in the VM (the
# repository's bin/ layout) and linked from /usr/local/bin; the VM's init sets
# LXMOUNT_BIN=/src/bin/lxmount for the integration tests. A directory without
# Go files yet is left out; one that does not build fails the run.
# V2VM_COMMANDS overrides the list (space-separated; empty: none).
read -r -a go_commands <<<"${V2VM_COMMANDS-cmd/lxmount cmd/lxmount-runc}"

# Kernel modules loaded by the init, relative to lib/modules/<version>/.
kernel_modules=(kernel/fs/fuse/fuse.ko)

log() { printf 'v2vm: %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

t_all=$(now)
qemu_pid=""
stage=""
cleanup() {
	if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -KILL "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	[ -z "$stage" ] || rm -rf "$stage"
	rm -rf "$out/bin" "$out/initramfs.cpio"
}
trap cleanup EXIT

# --- host packages -----------------------------------------------------------
t=$(now)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	$sudo apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "host packages ready ($(since "$t"))"

# --- kernel --------------------------------------------------------------------
# resolve_kernel prints the newest linux-image-*-cloud-amd64 that the meta
# package depends on (apt-cache knows nothing before the first apt-get update).
resolve_kernel() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
}

t=$(now)
kpkg=${V2VM_KERNEL_PKG:-$(resolve_kernel)}
if [ -z "$kpkg" ]; then
	$sudo apt-get update -qq
	kpkg=$(resolve_kernel)
fi
[ -n "$kpkg" ] || { log "cannot resolve linux-image-cloud-amd64 with apt-cache"; exit 1; }
kdir=$cache/$kpkg
if [ ! -f "$kdir/complete" ]; then
	log "downloading $kpkg"
	rm -rf "$kdir"
	mkdir -p "$kdir"
	dl=$(mktemp -d "$cache/dl.XXXXXX")
	# Downloaded as root when root (the _apt sandbox user cannot write here).
	if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$kpkg" >/dev/null); then
		# The archive keeps only the current kernel: refresh stale lists once.
		log "download failed; apt-get update and retry"
		$sudo apt-get update -qq
		(cd "$dl" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$kpkg" >/dev/null)
	fi
	dpkg-deb -x "$dl"/"$kpkg"_*.deb "$dl/x"
	cp "$dl"/x/boot/vmlinuz-* "$kdir/vmlinuz"
	version=$(basename "$dl"/x/lib/modules/*)
	echo "$version" >"$kdir/version"
	for m in "${kernel_modules[@]}"; do
		src=$(ls "$dl/x/lib/modules/$version/$m"* | head -n 1)
		case "$src" in
		*.xz) xz -dc "$src" >"$kdir/$(basename "$m")" ;;
		*.zst) zstd -qdc "$src" >"$kdir/$(basename "$m")" ;;
		*) cp "$src" "$kdir/$(basename "$m")" ;;
		esac
	done
	rm -rf "$dl"
	touch "$kdir/complete"
fi
log "kernel $kpkg ($(cat "$kdir/version")) ready ($(since "$t"))"

# --- test binaries --------------------------------------------------------------
t=$(now)
rm -rf "$out/bin" && mkdir -p "$out/bin"
mapfile -t pkgs < <(awk '!/^[ \t]*(#|$)/ { print $1 }' "$list")
names=$(for p in "${pkgs[@]}"; do basename "$p"; done | sort | uniq -d)
[ -z "$names" ] || { log "tests.list: two packages named $names"; exit 1; }
for p in "${pkgs[@]}"; do
	(cd "$repo" && CGO_ENABLED=0 "$GO" test -c -o "$out/bin/$(basename "$p").test" "./$p") ||
		{ log "FAIL: go test -c ./$p"; exit 1; }
done
for c in ${go_commands[@]+"${go_commands[@]}"}; do
	if (cd "$repo" && "$GO" list "./$c" >/dev/null 2>&1); then
		(cd "$repo" && CGO_ENABLED=0 "$GO" build -o "$out/bin/$(basename "$c")" "./$c") ||
			{ log "FAIL: go build ./$c"; exit 1; }
	else
		log "not building $c: not a Go package yet"
	fi
done
log "built ${#pkgs[@]} test binaries ($(since "$t"))"

# --- initramfs ------------------------------------------------------------------
t=$(now)
stage=$(mktemp -d "$repo/build/v2vm-stage.XXXXXX")
r=$stage/root
# Merged /usr as on Debian 12, so host binaries find their libraries and the
# harness's busybox rootfs (which links /lib to usr/lib) can bind this /usr.
mkdir -p "$r"/usr/bin "$r"/usr/sbin "$r"/usr/lib/modules "$r"/usr/lib64 "$r"/usr/local/bin \
	"$r"/etc "$r"/root "$r"/v2vm/bin "$r"/src/bin "$r"/sys "$r"/proc "$r"/dev
for l in bin sbin lib lib64; do ln -s "usr/$l" "$r/$l"; done

# busybox and its applets (absolute links, valid wherever this /usr is bound).
cp /bin/busybox "$r/usr/bin/busybox"
/bin/busybox --list-full | while read -r a; do
	[ -e "$r/$a" ] || [ -L "$r/$a" ] || ln -s /usr/bin/busybox "$r/$a"
done

# copy_with_libs copies a host program and every library ldd names to the
# same path under the root, replacing a busybox applet link of that name.
copy_with_libs() {
	local f=$1
	mkdir -p "$(dirname "$r$f")" && rm -f "$r$f"
	if [ -L "$f" ]; then
		ln -s "$(readlink "$f")" "$r$f"
		copy_with_libs "$(readlink -f "$f")"
		return
	fi
	cp -p "$f" "$r$f"
	ldd "$f" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | while read -r lib; do
		[ -e "$r$lib" ] || { mkdir -p "$(dirname "$r$lib")" && cp -L "$lib" "$r$lib"; }
	done
}
for f in "${host_tools[@]}"; do copy_with_libs "$f"; done
# The sysinfo(2) probe the integration tests put into containers, built
# here: the VM has no gcc (sysinfoProbe uses /v2vm/bin/sysinfo_probe).
gcc -static -O2 -pthread -o "$r/v2vm/bin/sysinfo_probe" "$repo/integration/testdata/sysinfo_probe.c" ||
	{ log "FAIL: gcc -static sysinfo_probe.c"; exit 1; }
for d in ${host_trees[@]+"${host_trees[@]}"}; do
	tar -C / ${host_tree_excludes[@]+"${host_tree_excludes[@]/#/--exclude=}"} -cf - "${d#/}" | tar -C "$r" -xf -
done
ln -sf /proc/self/mounts "$r/etc/mtab"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
printf 'root:x:0:\n' >"$r/etc/group"
printf 'lxmount-v2vm\n' >"$r/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$r/etc/hosts"

for m in "${kernel_modules[@]}"; do cp "$kdir/$(basename "$m")" "$r/lib/modules/"; done

# The repository's non-Go files (testdata, configs...) at their relative paths,
# so each test binary finds them from /src/<pkg> as `go test` would.
tar -C "$repo" --exclude=./.git --exclude=./build --exclude=./bin --exclude='*.go' \
	--exclude='*.test' -cf - . | tar -C "$r/src" -xf -
for p in "${pkgs[@]}"; do mkdir -p "$r/src/$p"; done
for p in "${pkgs[@]}"; do mv "$out/bin/$(basename "$p").test" "$r/v2vm/bin/"; done
for c in ${go_commands[@]+"${go_commands[@]}"}; do
	b=$(basename "$c")
	if [ -f "$out/bin/$b" ]; then
		mv "$out/bin/$b" "$r/src/bin/$b"
		ln -s "/src/bin/$b" "$r/usr/local/bin/$b"
	fi
done

rm -f "$r/init"
cp "$here/init" "$r/init" && chmod 755 "$r/init"
cp "$list" "$r/v2vm/tests.list"
printf 'TEST_TIMEOUT=%q\nTEST_ARGS=%q\n' "$test_timeout" "${V2VM_TEST_ARGS:-}" >"$r/v2vm/env"

# Uncompressed: under TCG decompressing costs more than qemu reading the file.
(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$out/initramfs.cpio"
rm -rf "$stage" && stage=""
log "initramfs $(du -m "$out/initramfs.cpio" | cut -f1) MB ($(since "$t"))"

# --- boot -------------------------------------------------------------------------
console=$out/console.log
rm -f "$console"
t=$(now)
log "booting $kpkg with $accel (bound ${timeout}s), console: ${console#"$repo"/}"
qemu-system-x86_64 -accel "$accel" -m 1024 -smp 4 -nodefaults -nographic -no-reboot \
	-kernel "$kdir/vmlinuz" -initrd "$out/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all" \
	-serial "file:$console" -monitor none </dev/null >"$out/qemu.log" 2>&1 &
qemu_pid=$!
timed_out=0
deadline=$((SECONDS + timeout))
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		timed_out=1
		kill -KILL "$qemu_pid" 2>/dev/null || true
		break
	fi
	sleep 1
done
qemu_rc=0
wait "$qemu_pid" 2>/dev/null || qemu_rc=$?
qemu_pid=""
log "VM ran $(since "$t") (qemu exit $qemu_rc)"

# --- results -------------------------------------------------------------------
clean=$out/console.txt
# Without the CRs of the serial line and the terminal escapes of the firmware.
sed 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[A-Za-z]//g' "$console" >"$clean" 2>/dev/null || : >"$clean"
fail=()
failed_pkgs=()
[ "$timed_out" -eq 0 ] || fail+=("the VM did not finish within ${timeout}s (qemu killed)")
if grep -q '^LXMOUNT-V2-SETUP-FAILED' "$clean"; then
	fail+=("VM setup failed: $(grep '^LXMOUNT-V2-SETUP-FAILED' "$clean" | head -n 1)")
fi
grep -q '^LXMOUNT-V2-BOOTED' "$clean" || fail+=("the VM never reached the tests")
for p in "${pkgs[@]}"; do
	res=$(awk -v p="$p" '$1 == "LXMOUNT-V2-RESULT" && $2 == p' "$clean" | tail -n 1)
	if [ -z "$res" ]; then
		fail+=("$p: no result")
		continue
	fi
	read -r _ _ status rc secs <<<"$res"
	n_pass=$(awk -v p="$p" '$1 == "LXMOUNT-V2-BEGIN" { in_p = ($2 == p) } in_p && /^ *--- PASS/' "$clean" | wc -l)
	n_fail=$(awk -v p="$p" '$1 == "LXMOUNT-V2-BEGIN" { in_p = ($2 == p) } in_p && /^ *--- FAIL/' "$clean" | wc -l)
	n_skip=$(awk -v p="$p" '$1 == "LXMOUNT-V2-BEGIN" { in_p = ($2 == p) } in_p && /^ *--- SKIP/' "$clean" | wc -l)
	log "  $p: $status (exit $rc) in ${secs}s inside: $n_pass passed, $n_fail failed, $n_skip skipped"
	if [ "$status" != PASS ]; then
		fail+=("$p: test binary failed (exit $rc)")
		failed_pkgs+=("$p")
	fi
done
grep -q '^LXMOUNT-V2-DONE' "$clean" || fail+=("no LXMOUNT-V2-DONE: the VM stopped early")
passed=$(grep -c '^ *--- PASS' "$clean" || true)
failed=$(grep -c '^ *--- FAIL' "$clean" || true)
skipped=$(grep -c '^ *--- SKIP' "$clean" || true)
[ "$passed" -gt 0 ] || fail+=("no test passed: the suite ran nothing")
if [ "$skipped" -gt 0 ]; then
	log "skipped inside the VM:"
	grep '^ *--- SKIP' "$clean" | sed 's/^/v2vm:   /'
fi
log "booted in $(awk '$1 == "LXMOUNT-V2-BOOTED" { print $3 "s"; exit }' "$clean"), whole run $(since "$t_all")"

if [ "${#fail[@]}" -gt 0 ]; then
	# A failed binary's output as plain `go test` shows it (no === RUN and
	# --- PASS lines); the whole console when the VM itself went wrong.
	for p in ${failed_pkgs[@]+"${failed_pkgs[@]}"}; do
		echo "----- $p: output inside the VM, without passing tests -----"
		awk -v p="$p" '$1 == "LXMOUNT-V2-BEGIN" { in_p = ($2 == p); next }
			$1 == "LXMOUNT-V2-RESULT" { in_p = 0 }
			in_p && !/^ *(=== (RUN|PAUSE|CONT|NAME)|--- PASS)/' "$clean" | tail -n 150
	done
	if [ "${#fail[@]}" -gt "${#failed_pkgs[@]}" ]; then
		echo "----- last 100 lines of the console -----"
		tail -n 100 "$clean"
	fi
	echo "----- whole console: ${console#"$repo"/} -----"
	[ ! -s "$out/qemu.log" ] || { echo "qemu said:"; cat "$out/qemu.log"; }
	grep '^ *--- FAIL' "$clean" | sed 's/^/v2vm: /' || true
	for f in "${fail[@]}"; do log "FAIL: $f"; done
	echo "v2vm: $passed passed, $failed failed, $skipped skipped"
	exit 1
fi
echo "v2vm: $passed passed, $failed failed, $skipped skipped"
