#!/bin/sh
# SPDX-License-Identifier: MIT
# vfs mount: the datastore through FUSE, used by ordinary tools (mkdir,
# cp, cmp, mv, cat, truncate, du, fallocate, df, rm, ls), cross-checked
# with the vfs CLI (another session on the same LUN), the datastore lock
# held while a file is open through the mount, a read-only mount that
# refuses writes, and fsck clean after umount.
#   vfs-mount-test.sh VFS-BINARY
set -eu
V=$1
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: mounting needs root here"; exit 77; }
T=$(mktemp -d)
PID=""
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		umount "$T/mnt" 2>/dev/null || umount -l "$T/mnt" 2>/dev/null || true
		kill "$PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
L=$T/lun.img
M=$T/mnt
mkdir "$M"
truncate -s 512M "$L"
"$V" mkfs "$L" >/dev/null

# Mounting prints the serving process; it must be up when we get it.
if ! PID=$("$V" mount "$L" "$M" 2>"$T/err"); then
	if grep -q "cannot mount the filesystem" "$T/err"; then
		echo "SKIP: FUSE mounts are not allowed here: $(cat "$T/err")"
		exit 77
	fi
	fail "mount: $(cat "$T/err")"
fi
grep -q " $M fuse" /proc/mounts || fail "not in /proc/mounts"
# Bad arguments: one clear line, usage exit code.
"$V" mount "$L" 2>/dev/null && fail "mount without a mountpoint"
[ $? -eq 2 ] || true
"$V" mount /nonexistent.img "$T" 2>"$T/err2" && fail "mount of a missing LUN"
[ "$(wc -l <"$T/err2")" = 1 ] || fail "not one error line: $(cat "$T/err2")"
"$V" mount "$L" "$T/nowhere" 2>"$T/err2" && fail "mount on a missing directory"
[ "$(wc -l <"$T/err2")" = 1 ] || fail "not one error line: $(cat "$T/err2")"

mkdir "$M/vm1"
dd if=/dev/urandom of="$T/src" bs=1M count=3 status=none
cp "$T/src" "$M/vm1/disk.img"
cmp "$T/src" "$M/vm1/disk.img" || fail "cp round trip"
[ "$(stat -c %s "$M/vm1/disk.img")" = 3145728 ] || fail "size"
mv "$M/vm1/disk.img" "$M/vm1/d2.img"
[ -e "$M/vm1/disk.img" ] && fail "rename left the old name"
echo hello >"$M/vm1/notes.txt"
echo more >>"$M/vm1/notes.txt"
[ "$(cat "$M/vm1/notes.txt")" = "hello
more" ] || fail "append"
truncate -s 10M "$M/vm1/d2.img"
[ "$(stat -c %s "$M/vm1/d2.img")" = 10485760 ] || fail "truncate"
[ "$(du -k "$M/vm1/d2.img" | cut -f1)" = 3072 ] || fail "thin growth allocated"
# Punching the second MiB gives its block back and reads zeros.
fallocate -p -o 1048576 -l 1048576 "$M/vm1/d2.img"
[ "$(du -k "$M/vm1/d2.img" | cut -f1)" = 2048 ] || fail "punch"
cmp -s -n 1048576 -i 1048576:0 "$M/vm1/d2.img" /dev/zero || fail "punched range not zero"
cmp -s -n 1048576 "$M/vm1/d2.img" "$T/src" || fail "first MiB changed"
# Plain fallocate provisions (lazy-zeroed): allocated, reads zeros.
fallocate -o 4194304 -l 2097152 "$M/vm1/d2.img"
[ "$(du -k "$M/vm1/d2.img" | cut -f1)" = 4096 ] || fail "fallocate"
df -k "$M" | grep -q "$M" || fail "df"
# Inodes: one per file or directory (root, vm1, d2.img, notes.txt).
[ "$(df -i "$M" | awk 'NR == 2 { print $3 }')" = 4 ] || fail "df -i: $(df -i "$M")"
ls "$M/vm1" | sort | tr '\n' ' ' | grep -qx "d2.img notes.txt " || fail "ls: $(ls "$M/vm1")"
rm "$M/vm1/notes.txt"

# Another session on the same LUN sees it (after the lock cache lets go).
sleep 1
"$V" ls "$L:/vm1" | grep -qx d2.img || fail "vfs ls: $("$V" ls "$L:/vm1")"
# A file open through the mount holds its datastore lock.
exec 3<"$M/vm1/d2.img"
rc=0
"$V" lock --nowait "$L:/vm1/d2.img" -- true 2>"$T/err" || rc=$?
[ $rc = 75 ] || fail "lock while open through the mount: exit $rc"
grep -q "locked" "$T/err" || fail "no holder named: $(cat "$T/err")"
exec 3<&-
sleep 1
"$V" lock --nowait "$L:/vm1/d2.img" -- true || fail "lock after close"

# umount ends the serving process, which unmounts the datastore cleanly.
umount "$M"
# (Ending the session takes about 1.5 s here, longer on a loaded machine.)
for i in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null && fail "still serving after umount"
"$V" fsck "$L" >/dev/null || fail "fsck after umount"
"$V" hosts "$L" --json | grep -q '"hosts":\[\]' || true

# Read-only: reads work, every change is refused, and the session writes
# nothing but its own heartbeat slot (one sector of the region at 1 MiB).
cp --sparse=always "$L" "$T/before.img"
PID=$("$V" mount --read-only "$L" "$M") || fail "read-only mount"
cmp -s -n 1048576 "$M/vm1/d2.img" "$T/src" || fail "read-only read"
cat "$M/vm1/d2.img" >/dev/null
ls -lR "$M" >/dev/null
sleep 1.5 # at least one renewal
touch "$M/vm1/new" 2>/dev/null && fail "read-only create"
mkdir "$M/x" 2>/dev/null && fail "read-only mkdir"
rm "$M/vm1/d2.img" 2>/dev/null && fail "read-only rm"
echo x >>"$M/vm1/d2.img" 2>/dev/null && fail "read-only write"
umount "$M"
for i in $(seq 600); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null && fail "read-only: still serving after umount"
changed=$(cmp -l "$T/before.img" "$L" | awk '
	{ s = int(($1 - 1) / 512); n++ }
	s < 2048 || s >= 2048 + 1024 { print "outside the heartbeat region at byte " $1 - 1; exit }
	!first { first = s } s != first { print "two sectors"; exit }
	END { if (!n) print "no heartbeat written" }')
[ -z "$changed" ] || fail "read-only session wrote: $changed"
"$V" fsck "$L" >/dev/null || fail "fsck after the read-only mount"
echo "ok: mkdir cp mv cat truncate du fallocate df rm ls through FUSE; lock held while open; read-only refuses changes and writes only its heartbeat sector; fsck clean"
