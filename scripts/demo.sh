#!/usr/bin/env bash
# lxmount demo: what a container limited to 256 MiB and 1.5 CPUs sees in /proc and
# /sys before and after `lxmount attach`.
#
# Runs as root on a Debian host after `make deps build` (`make demo` does all).
# It builds a busybox-static rootfs in a temp dir, binds the host's /usr into it
# read-only (so procps `free` runs inside: busybox's `free` reads sysinfo(2), not
# /proc/meminfo), starts a throwaway runc container, shows free/meminfo/nproc/
# cpu online inside, attaches lxmount, shows them again, prints `lxmount status`
# and detaches. On exit, also on failure or Ctrl-C, it removes everything it made:
# the container, its cgroups, the runc state, the lxmount daemon it started (by
# the PID in $STATE/daemon.pid), mounts under its temp dir, the temp dir.
#
# Environment: LXMOUNT=path/to/lxmount (default: bin/lxmount of this repo).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LXMOUNT=${LXMOUNT:-$ROOT/bin/lxmount}
MEM_LIMIT=$((256 * 1024 * 1024))
CPU_QUOTA=150000 # µs per period: 1.5 CPUs
CPU_PERIOD=100000

heading() { printf '\n=== %s ===\n' "$*"; }
die() {
	echo "demo: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (the container, cgroups and FUSE mounts need it)"
for cmd in runc python3 busybox; do
	command -v "$cmd" >/dev/null || die "$cmd not found: run \`make deps\`"
done
[ -x /usr/bin/free ] || die "/usr/bin/free (procps) not found: run \`make deps\`"
if [ ! -x "$LXMOUNT" ]; then
	echo "demo: warning: $LXMOUNT not built (\`make build\`); the attach step will fail" >&2
fi

SUFFIX=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
TMP=$(mktemp -d /tmp/lxmount-demo.XXXXXX)
ID=lxmount-demo-$SUFFIX
CGPATH=/lxmount-demo-$SUFFIX # relative to each cgroup hierarchy's root
RUNC_ROOT=$TMP/runc
BUNDLE=$TMP/bundle
ROOTFS=$BUNDLE/rootfs
SOCK=$TMP/lxmount.sock
STATE=$TMP/state
CONFIG=$TMP/lxmount.toml
LX=("$LXMOUNT" --socket "$SOCK" --state-dir "$STATE" --config "$CONFIG")

# The demo's own config: its daemon attaches only on request (no reconcile
# loop), and its one policy matches only the demo container's cgroup, so no
# other container on this machine is touched.
mkdir -p "$TMP/policy.d"
printf 'reconcile_interval = "0s"\n' >"$CONFIG"
printf '[[policy]]\nname = "demo"\n[policy.match]\ncgroup = ["%s"]\n' "$CGPATH" >"$TMP/policy.d/demo.toml"

# mounts_under DIR: mount points in this (the host's) mount namespace under DIR,
# deepest first. mountinfo field 5 is the mount point.
mounts_under() {
	awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

cleanup() {
	local rc=$? leftovers=0 pid exe dir i
	set +e
	trap - EXIT INT TERM
	heading "cleanup"

	if [ -d "$RUNC_ROOT" ]; then
		runc --root "$RUNC_ROOT" kill "$ID" KILL >/dev/null 2>&1
		runc --root "$RUNC_ROOT" delete -f "$ID" >/dev/null 2>&1
		echo "container $ID deleted"
	fi

	# The daemon `lxmount attach` started: only the PID it recorded, and only if
	# that PID still runs an lxmount binary.
	if [ -s "$STATE/daemon.pid" ]; then
		pid=$(tr -dc '0-9' <"$STATE/daemon.pid")
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
		if [ -n "$pid" ] && [[ "$exe" == */lxmount* ]]; then
			kill -TERM "$pid"
			for i in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
			echo "lxmount daemon $pid stopped"
		fi
	fi

	for dir in $(mounts_under "$TMP"); do
		umount -l "$dir" && echo "unmounted $dir"
	done

	# runc delete removes the container's cgroups; remove any it left (empty only).
	for dir in /sys/fs/cgroup/*"$CGPATH"; do
		[ -d "$dir" ] || continue
		for i in $(seq 50); do
			rmdir "$dir" 2>/dev/null && break
			sleep 0.1
		done
	done

	# Verify before deleting the temp dir.
	if [ -d "$RUNC_ROOT" ] && [ -n "$(runc --root "$RUNC_ROOT" list -q 2>/dev/null)" ]; then
		echo "LEFTOVER runc containers: $(runc --root "$RUNC_ROOT" list -q)"
		leftovers=1
	fi
	if ls -d /sys/fs/cgroup/*"$CGPATH" >/dev/null 2>&1; then
		echo "LEFTOVER cgroups:" /sys/fs/cgroup/*"$CGPATH"
		leftovers=1
	fi
	if [ -n "$(mounts_under "$TMP")" ]; then
		echo "LEFTOVER mounts:" $(mounts_under "$TMP")
		leftovers=1
	fi
	# The killed init is reparented to PID 1, which reaps it: wait for that, but a
	# zombie (state Z, third field of /proc/PID/stat) is dead already.
	for i in $(seq 50); do
		[ -n "${INIT_PID:-}" ] && [ -d "/proc/$INIT_PID" ] || break
		[ "$(awk '{ print $3 }' "/proc/$INIT_PID/stat" 2>/dev/null)" = Z ] && break
		sleep 0.1
	done
	if [ -n "${INIT_PID:-}" ] && [ -d "/proc/$INIT_PID" ] &&
		[ "$(awk '{ print $3 }' "/proc/$INIT_PID/stat" 2>/dev/null)" != Z ]; then
		echo "LEFTOVER container init: pid $INIT_PID"
		leftovers=1
	fi
	if pgrep -f -- "$TMP" >/dev/null; then
		echo "LEFTOVER processes using $TMP:"
		ps -o pid,args -p "$(pgrep -d, -f -- "$TMP")"
		leftovers=1
	fi

	if [ "$leftovers" = 0 ]; then
		# --one-file-system: never descend into a mount, even one missed above.
		rm -rf --one-file-system "$TMP"
		echo "removed $TMP; no container, cgroup, mount or process left"
	else
		echo "kept $TMP for inspection"
		[ "$rc" = 0 ] && rc=1
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# inside CMD...: run CMD in the container, echoing it; a failure is shown, not fatal.
inside() {
	printf '$ %s\n' "$*"
	runc --root "$RUNC_ROOT" exec "$ID" "$@" || echo "(failed: exit $?)"
}

show_view() {
	inside /usr/bin/free -m
	inside head -3 /proc/meminfo
	inside cat /sys/devices/system/cpu/online
	inside grep -c ^processor /proc/cpuinfo
	inside cat /proc/uptime
	inside /usr/bin/uptime
	inside nproc # sched_getaffinity(2): the cpuset, which no file view changes
}

heading "rootfs: busybox-static in $ROOTFS"
mkdir -p "$ROOTFS"/{bin,usr,proc,sys,dev,tmp,root,run,etc}
chmod 1777 "$ROOTFS/tmp"
ln -s bin "$ROOTFS/sbin"
ln -s usr/lib "$ROOTFS/lib" # Debian 12 has merged /usr: host binaries
ln -s usr/lib64 "$ROOTFS/lib64" # find their libraries through the bound /usr
cp "$(command -v busybox)" "$ROOTFS/bin/busybox"
for applet in $("$ROOTFS/bin/busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$ROOTFS/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOTFS/etc/passwd"
echo 'root:x:0:' >"$ROOTFS/etc/group"
echo "$(ls "$ROOTFS/bin" | wc -l) entries in /bin; host /usr will be bound read-only at /usr"

heading "container $ID: 256 MiB, 1.5 CPUs (quota $CPU_QUOTA / period $CPU_PERIOD)"
runc spec --bundle "$BUNDLE"
python3 - "$BUNDLE/config.json" "$ROOTFS" "$ID" "$CGPATH" "$MEM_LIMIT" "$CPU_QUOTA" "$CPU_PERIOD" <<'EOF'
import json, sys
path, rootfs, cid, cgpath, mem, quota, period = sys.argv[1:]
with open(path) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sleep", "1000"]
spec["root"] = {"path": rootfs, "readonly": False}
spec["hostname"] = cid
spec["mounts"] += [
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/usr", "type": "bind", "source": "/usr",
     "options": ["rbind", "ro", "nosuid", "nodev"]},
]
spec["linux"]["cgroupsPath"] = cgpath
res = spec["linux"].setdefault("resources", {})
res["memory"] = {"limit": int(mem)}
res["cpu"] = {"quota": int(quota), "period": int(period)}
with open(path, "w") as f:
    json.dump(spec, f, indent="\t")
EOF
# Detached without a terminal the container keeps runc's stdio: send it to a file.
if ! runc --root "$RUNC_ROOT" run -d --bundle "$BUNDLE" --pid-file "$TMP/init.pid" "$ID" \
	</dev/null >"$TMP/container.log" 2>&1; then
	cat "$TMP/container.log" >&2
	die "runc run failed"
fi
INIT_PID=$(cat "$TMP/init.pid")
echo "init pid on the host: $INIT_PID; cgroup $CGPATH"
echo "host side: memory.limit_in_bytes=$(cat /sys/fs/cgroup/memory$CGPATH/memory.limit_in_bytes)" \
	"cpu.cfs_quota_us=$(cat /sys/fs/cgroup/cpu$CGPATH/cpu.cfs_quota_us)" \
	"cpu.cfs_period_us=$(cat /sys/fs/cgroup/cpu$CGPATH/cpu.cfs_period_us)"

heading "BEFORE: the container sees the host's /proc"
show_view

heading "attach"
echo "\$ ${LX[*]} attach $INIT_PID"
"${LX[@]}" attach "$INIT_PID" || {
	echo "attach FAILED (exit $?): skipping AFTER, status and detach"
	exit 1
}

heading "AFTER: the container sees its cgroup's limits"
show_view

heading "status"
echo "\$ ${LX[*]} status"
"${LX[@]}" status || echo "(failed: exit $?)"

heading "detach"
echo "\$ ${LX[*]} detach $INIT_PID"
"${LX[@]}" detach "$INIT_PID" || echo "(failed: exit $?)"
