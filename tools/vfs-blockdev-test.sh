#!/bin/sh
# SPDX-License-Identifier: MIT
# The datastore on a block device (a loop device over a scratch file):
# mkfs, directories, put/get round trips of a large and a small file, a
# lock held by one process refused to another, info/hosts --json, fsck
# clean. Skips (77) when no loop device can be set up here.
#   vfs-blockdev-test.sh VFS-BINARY
set -eu
V=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: loop devices need root"; exit 77; }
command -v losetup >/dev/null || { echo "SKIP: no losetup"; exit 77; }
T=$(mktemp -d)
DEV=""
HOLDER=""
cleanup() {
	[ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null && wait "$HOLDER" 2>/dev/null
	[ -n "$DEV" ] && losetup -d "$DEV"
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
truncate -s 256M "$T/backing.img"
if ! DEV=$(losetup -f --show "$T/backing.img" 2>"$T/err"); then
	DEV=""
	echo "SKIP: no loop device: $(cat "$T/err")"
	exit 77
fi
[ -b "$DEV" ] || fail "$DEV is not a block device"

"$V" mkfs "$DEV" --label blockdev >/dev/null || fail "mkfs on $DEV"
"$V" info "$DEV" --json | grep -q '"label":"blockdev"' || fail "info"
"$V" mkdir "$DEV:/vm1" || fail "mkdir"
dd if=/dev/urandom of="$T/big" bs=1M count=5 status=none
head -c 700 /dev/urandom >"$T/small"
"$V" put "$T/big" "$DEV:/vm1/disk.raw" || fail "put big"
"$V" put "$T/small" "$DEV:/vm1/vm.vmx" || fail "put small"
"$V" get "$DEV:/vm1/disk.raw" "$T/big.back" || fail "get big"
"$V" get "$DEV:/vm1/vm.vmx" "$T/small.back" || fail "get small"
cmp "$T/big" "$T/big.back" || fail "big round trip"
cmp "$T/small" "$T/small.back" || fail "small round trip"
"$V" stat "$DEV:/vm1/vm.vmx" --json | grep -q '"allocated_bytes":0' ||
	fail "a small file took a block: $("$V" stat "$DEV:/vm1/vm.vmx" --json)"

# One process holds the lock; another is refused at once (exit 75).
"$V" lock "$DEV:/vm1/disk.raw" -- sleep 30 &
HOLDER=$!
for i in $(seq 100); do
	"$V" locks "$DEV" --json | grep -q '"path":"/vm1/disk.raw"' && break
	sleep 0.05
done
rc=0
"$V" lock --nowait "$DEV:/vm1/disk.raw" -- true 2>"$T/err" || rc=$?
[ $rc = 75 ] || fail "second holder: exit $rc"
"$V" hosts "$DEV" --json | grep -q '"state":"live"' || fail "hosts"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
HOLDER=""

"$V" fsck "$DEV" >/dev/null || fail "fsck"
echo "ok: mkfs, put/get, small file, locks, hosts, fsck on $DEV"
