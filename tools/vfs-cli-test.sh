#!/bin/sh
# SPDX-License-Identifier: MIT
# The vfs command end to end on a file LUN: exit codes (0 ok, 1 failed,
# 2 usage, 75 busy), one-line errors, valid --json on every query, and the
# bad inputs the issue names (not a datastore, a newer format, a name too
# long, a missing path, a lock held elsewhere, corrupt metadata).
#   vfs-cli-test.sh PATH-TO-vfs
set -u
VFS=${1:?usage: $0 VFS-BINARY}
dir=$(mktemp -d)
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$dir"' EXIT
lun=$dir/lun.img
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE COMMAND...: runs it, checks the exit code; stderr is kept.
expect() {
	want=$1; shift
	"$@" >"$dir/out" 2>"$dir/err"
	got=$?
	[ "$got" = "$want" ] || fail "$* exited $got, want $want: $(cat "$dir/err")"
	if [ "$want" != 0 ]; then
		n=$(wc -l <"$dir/err")
		[ "$n" -ge 1 ] || fail "$*: no error message"
	fi
}

json() {
	expect 0 "$@"
	python3 -m json.tool "$dir/out" >/dev/null 2>&1 ||
		fail "$*: not one JSON document: $(head -c 200 "$dir/out")"
}

# ---- usage ----
expect 0 "$VFS" --help
expect 2 "$VFS"
expect 2 "$VFS" frobnicate
for c in mkfs info ls stat mkdir rm mv create put get hosts locks lock mount fsck; do
	expect 0 "$VFS" "$c" --help
done
expect 2 "$VFS" mkfs
expect 2 "$VFS" mkfs --block-size 3M "$lun"
expect 2 "$VFS" create "$lun:/x"

# ---- formatting and bad LUNs ----
truncate -s 512M "$lun"
expect 1 "$VFS" info "$lun"                 # not a datastore yet
grep -q "does not hold a datastore" "$dir/err" || fail "info: wrong message"
expect 0 "$VFS" mkfs "$lun" --label cli --lease 3
expect 1 "$VFS" mkfs "$lun"
grep -q "already holds a datastore" "$dir/err" || fail "mkfs: wrong message"
expect 0 "$VFS" mkfs --force "$lun" --label cli --lease 3
json "$VFS" info --json "$lun"
grep -q '"label":"cli"' "$dir/out" || fail "info: label"

# ---- files ----
head -c 3000000 /dev/urandom >"$dir/src"
expect 0 "$VFS" mkdir "$lun:/vm1"
expect 0 "$VFS" mkdir -p "$lun:/a/b/c"
expect 1 "$VFS" mkdir "$lun:/vm1"
expect 1 "$VFS" mkdir "$lun:/missing/x"
expect 0 "$VFS" put "$dir/src" "$lun:/vm1/disk.raw"
expect 1 "$VFS" put "$dir/src" "$lun:/vm1/disk.raw"
expect 0 "$VFS" put --force --alloc eager-zeroed "$dir/src" "$lun:/vm1/disk.raw"
expect 0 "$VFS" get "$lun:/vm1/disk.raw" "$dir/back"
cmp -s "$dir/src" "$dir/back" || fail "get: data differs"
expect 1 "$VFS" get "$lun:/vm1/disk.raw" "$dir/back"
expect 0 "$VFS" create "$lun:/vm1/thin" --size 1G
long=$(printf 'n%.0s' $(seq 1 256))
expect 1 "$VFS" create "$lun:/vm1/$long" --size 1M
grep -q "255" "$dir/err" || fail "long name: message should say the limit"
expect 0 "$VFS" mv "$lun:/vm1/thin" "$lun:/a/thin"
expect 0 "$VFS" mv "$lun:/a/thin" /vm1/thin2
expect 1 "$VFS" mv "$lun:/nope" /x
json "$VFS" ls --json "$lun:/vm1"
grep -q '"name":"thin2"' "$dir/out" || fail "ls: entry missing"
expect 0 "$VFS" ls -l "$lun:/vm1"
json "$VFS" stat --json "$lun:/vm1/disk.raw"
grep -q '"alloc":"eager-zeroed"' "$dir/out" || fail "stat: alloc"
expect 1 "$VFS" stat "$lun:/vm1/none"
expect 1 "$VFS" rm "$lun:/a"
expect 0 "$VFS" rm -r "$lun:/a"

# ---- hosts and locks ----
json "$VFS" hosts --json "$lun"
"$VFS" lock "$lun:/vm1/disk.raw" -- sleep 30 &
holder=$!
i=0
while [ $i -lt 50 ]; do
	"$VFS" locks --json "$lun" >"$dir/locks" 2>/dev/null
	grep -q disk.raw "$dir/locks" && break
	sleep 0.1; i=$((i + 1))
done
json "$VFS" locks --json "$lun"
grep -q '"mode":"exclusive"' "$dir/out" || fail "locks: holder not shown"
json "$VFS" hosts --json "$lun"
grep -q '"state":"live"' "$dir/out" || fail "hosts: live host not shown"
expect 75 "$VFS" lock --nowait "$lun:/vm1/disk.raw" -- true
grep -q "locked exclusive by host" "$dir/err" || fail "lock: holder not named"
expect 0 "$VFS" lock --shared --nowait "$lun:/vm1/thin2" -- true
"$VFS" lock "$lun:/vm1/thin2" -- sh -c 'exit 3'
[ $? = 3 ] || fail "lock: the command's exit status is not passed on"
kill "$holder"; wait "$holder" 2>/dev/null; holder=

# ---- fsck ----
json "$VFS" fsck --json "$lun"
grep -q '"result":"clean"' "$dir/out" || fail "fsck: not clean"
# Scribble over the root directory's inode body: corrupt (exit 2).
meta_off=$(python3 -c "import struct,sys; print(struct.unpack_from('<Q', open(sys.argv[1],'rb').read(512), 208)[0])" "$lun")
printf 'XXXXXXXX' | dd of="$lun" bs=1 seek=$((meta_off + 4096 + 600)) conv=notrunc status=none
expect 2 "$VFS" fsck "$lun"
expect 1 "$VFS" ls "$lun:/"

# ---- a newer format version (valid checksum): refused ----
expect 0 "$VFS" mkfs --force "$lun"
python3 - "$lun" <<'EOF'
import struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
f = open(sys.argv[1], 'r+b')
s = bytearray(f.read(512))
struct.pack_into('<I', s, 12, 2)          # version 2
struct.pack_into('<I', s, 8, 0)
struct.pack_into('<I', s, 8, crc32c(bytes(s)))
f.seek(0); f.write(s)
f.seek(64 * 1024); f.write(s)
EOF
expect 1 "$VFS" info "$lun"
grep -q "newer format" "$dir/err" || fail "newer version: wrong message: $(cat "$dir/err")"
expect 1 "$VFS" mkdir "$lun:/x"

if [ $fails -ne 0 ]; then
	echo "$fails checks failed" >&2
	exit 1
fi
echo "vfs CLI: all checks passed"
