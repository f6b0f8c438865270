#!/bin/sh
# SPDX-License-Identifier: MIT
# Snapshots of a disk served by `vdisk serve`, with qemu-io, qemu-img and
# nbdcopy as the NBD clients and `vsnap` talking to the server through its
# control socket:
#   - pattern A, snapshot, pattern B, revert -> reads A; a branch
#   - a tree of points; delete in the middle of the chain while served,
#     every other point and the current state compared byte for byte
#     with images exported before
#   - delete and commit while nbdcopy is writing the whole disk: the
#     result equals what the client wrote
#   - linked clones from one base served by several processes at once
#     (the base shared read-only; a writer on the base refused), and on
#     a datastore by two hosts at once
#   - one create over two disks, also one served and one free
#   - bad input: missing and corrupt deltas, a broken parent link, a
#     content-ID mismatch, duplicate and unknown names, revert of a disk
#     another process (on a datastore: another host) holds: one clear
#     error line, exit 1 (75 for a busy disk), nothing changed
#   serve-test.sh VDISK VSNAP VFS
set -eu
V=$1
S=$2
F=$3
for p in qemu-io qemu-img nbdcopy nbdinfo python3 md5sum; do
	command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
T=$(mktemp -d)
SP=""
SP2=""
WP=""
TP=""
cleanup() {
	for p in $WP $SP $SP2; do kill "$p" 2>/dev/null || true; done
	# tgtd ignores SIGTERM while it has targets.
	[ -n "$TP" ] && kill -KILL "$TP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
export VSTACK_RUN_DIR="$T/run"
fail() { echo "FAIL: $*" >&2; exit 1; }

# start DISK SOCKET [ARGS]: serve DISK on unix socket SOCKET; sets SP.
start() {
	d=$1; s=$2; shift 2
	rm -f "$s"
	"$V" serve "$d" --nbd "unix:$s" "$@" 2>>serve.err &
	SP=$!
	for i in $(seq 200); do
		[ -S "$s" ] && return 0
		kill -0 $SP 2>/dev/null || fail "serve $d: $(cat serve.err)"
		sleep 0.05
	done
	fail "serve $d did not start"
}
stop() { kill "$SP"; wait "$SP" || fail "serve exit: $(cat serve.err)"; SP=""; }
nbd() { echo "nbd+unix:///?socket=$T/$1"; }
# qio URI COMMANDS...: qemu-io on an NBD export, verification checked.
qio() {
	u=$1; shift
	qemu-io -f raw "$@" "$u" >qio.out 2>&1 || fail "qemu-io: $(cat qio.out)"
	! grep -q "failed\|error" qio.out || fail "qemu-io: $(cat qio.out)"
}
# state DISK: a fingerprint of every file of the disk (nothing changed?);
# lock files only say who held the disk last.
state() { for f in $(ls "$1"[.-]* | grep -v '\.lck$' | sort); do md5sum "$f"; done; }
# expect_err RC PATTERN CMD...: fails unless CMD exits RC with one line
# on stderr matching PATTERN.
expect_err() {
	want=$1; pat=$2; shift 2
	set +e
	"$@" >/dev/null 2>err.out
	rc=$?
	set -e
	[ $rc -eq $want ] || fail "$*: exit $rc, not $want: $(cat err.out)"
	[ "$(grep -c . err.out)" -eq 1 ] || fail "$*: not one line: $(cat err.out)"
	grep -q "$pat" err.out || fail "$*: message: $(cat err.out)"
}
pts() { # snapshot names of DISK in tree order
	"$S" list "$1" --json | python3 -c '
import json, sys
print(" ".join(s["name"] for s in json.load(sys.stdin)["snapshots"]))'
}

# ---- A, snapshot, B, revert -> A; a branch ----
"$V" create d.vmdk --size 64M >/dev/null
start d.vmdk s.sock
U=$(nbd s.sock)
qio "$U" -c "write -P 0xa1 0 8M" -c "write -P 0xa2 40M 1M" -c flush
"$S" create d.vmdk --name A --description "pattern A" >/dev/null ||
	fail "online create: $(cat serve.err)"
qio "$U" -c "write -P 0xb1 1M 2M" -c "write -P 0xb2 50M 64k" -c flush \
	-c "read -P 0xa1 0 1M" -c "read -P 0xb1 1M 2M" -c "read -P 0xa1 3M 5M"
# The served disk is held: revert is refused, nothing changed.
before=$(state d)
expect_err 75 "revert needs the disk closed and it is in use by a process here" "$S" revert d.vmdk A
[ "$(state d)" = "$before" ] || fail "a refused revert changed files"
stop
"$S" revert d.vmdk A || fail "revert"
start d.vmdk s.sock
qio "$U" -c "read -P 0xa1 0 8M" -c "read -P 0xa2 40M 1M" -c "read -P 0 50M 64k"
# A branch: A now has two children (the old B state is gone, but a
# snapshot taken on each side makes the branch visible).
qio "$U" -c "write -P 0xc1 2M 1M" -c flush
"$S" create d.vmdk --name C >/dev/null
stop
"$S" revert d.vmdk A
start d.vmdk s.sock
qio "$U" -c "write -P 0xd1 4M 1M" -c flush -c "read -P 0xa1 2M 1M"
"$S" create d.vmdk --name D >/dev/null
stop
"$S" list d.vmdk --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
by = {s["name"]: s for s in d["snapshots"]}
assert by["C"]["parent"] == by["A"]["id"] == by["D"]["parent"], by
assert by["D"]["current_position"], by
' || fail "branch tree: $("$S" list d.vmdk)"
"$V" export d.vmdk --snapshot C c.raw --format raw >/dev/null
qemu-io -f raw -c "read -P 0xc1 2M 1M" -c "read -P 0xa1 4M 1M" c.raw \
	>qio.out && ! grep -q failed qio.out || fail "branch C content"
"$V" check d.vmdk >/dev/null || fail "check after branches"
echo "ok: pattern A, snapshot, B, revert, branches"

# ---- one create over several disks ----
"$V" create va.vmdk --size 8M >/dev/null
"$V" create vb.vmdk --size 8M >/dev/null
"$S" create va.vmdk vb.vmdk --name X >/dev/null || fail "create over two"
ga=$("$S" list va.vmdk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["group"])')
gb=$("$S" list vb.vmdk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][0]["group"])')
[ -n "$ga" ] && [ "$ga" = "$gb" ] || fail "no common group: $ga $gb"
# One of them held by a server, the other not: one group create (the
# server's part over its control socket, vb's here).
start va.vmdk va.sock
"$S" create va.vmdk vb.vmdk --name Y >/dev/null || fail "held + free"
stop
[ "$(pts va.vmdk)" = "X Y" ] && [ "$(pts vb.vmdk)" = "X Y" ] ||
	fail "held + free: $(pts va.vmdk) / $(pts vb.vmdk)"
ga=$("$S" list va.vmdk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][1]["group"])')
gb=$("$S" list vb.vmdk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshots"][1]["group"])')
[ -n "$ga" ] && [ "$ga" = "$gb" ] || fail "no common group: $ga $gb"
echo "ok: one snapshot over two disks (group $ga), also one held, one free"

# ---- delete in the middle of a chain, served, byte for byte ----
# Five points, each scattered random data over the last (w$i.raw sparse:
# nbdcopy --destination-is-zero writes only its data), exp$i.raw what
# point i must read as.
python3 - <<'PY'
import os, random
r = random.Random(7)
cur = bytearray(32 << 20)
for i in range(5):
    with open("w%d.raw" % i, "wb") as f:
        f.truncate(32 << 20)
        for k in range(40):
            off = r.randrange(0, (32 << 20) // 4096) * 4096
            n = min(4096 * r.randrange(1, 64), (32 << 20) - off)
            data = os.urandom(n)
            f.seek(off); f.write(data)
            cur[off:off + n] = data
    with open("exp%d.raw" % i, "wb") as f:
        f.write(cur)
PY
"$V" create m.vmdk --size 32M >/dev/null
start m.vmdk m.sock
M=$(nbd m.sock)
for i in 0 1 2 3 4; do
	nbdcopy --destination-is-zero "w$i.raw" "$M" || fail "nbdcopy w$i"
	[ $i -lt 4 ] && { "$S" create m.vmdk --name "P$i" >/dev/null ||
		fail "create P$i: $(cat serve.err)"; }
done
qemu-img compare -q -f raw -F raw exp4.raw "$M" || fail "current before delete"
"$S" delete m.vmdk P2 --json >del.json || fail "online delete: $(cat serve.err)"
"$S" delete m.vmdk P0 >/dev/null || fail "online delete of the base"
qemu-img compare -q -f raw -F raw exp4.raw "$M" || fail "current after delete"
stop
[ "$(pts m.vmdk)" = "P1 P3" ] || fail "points left: $(pts m.vmdk)"
for i in 1 3; do
	rm -f p.raw
	"$V" export m.vmdk --snapshot "P$i" p.raw --format raw >/dev/null
	cmp p.raw "exp$i.raw" || fail "point P$i changed by the deletes"
done
"$V" check m.vmdk >/dev/null || fail "check after deletes"
echo "ok: delete in the middle, online, every other point byte for byte"

# ---- delete and commit under write load ----
# 24 MiB in the layer that merges (the merge has work to do) while
# nbdcopy keeps rewriting the first 8 MiB; the result must be what the
# client wrote last over the rest.
python3 -c "
import os
fill = os.urandom(24 << 20)
load = os.urandom(8 << 20)
open('fill.raw', 'wb').write(fill)
open('load.raw', 'wb').write(load)
open('want.raw', 'wb').write(load + fill[8 << 20:] + bytes(8 << 20))"
for op in delete commit; do
	"$V" create l.vmdk --size 32M >/dev/null
	start l.vmdk l.sock
	L=$(nbd l.sock)
	"$S" create l.vmdk --name base >/dev/null
	nbdcopy fill.raw "$L"
	[ $op = delete ] && "$S" create l.vmdk --name mid >/dev/null
	# The client rewrites its 8 MiB until the operation has
	# returned, then once more: it is writing all along.
	rm -f op.done
	( while [ ! -e op.done ]; do nbdcopy load.raw "$L" || exit 1; done
	  nbdcopy load.raw "$L" ) &
	WP=$!
	sleep 0.2
	if [ $op = delete ]; then
		"$S" delete l.vmdk mid --json >op.json || fail "delete under load"
	else
		"$S" commit l.vmdk --json >op.json || fail "commit under load"
	fi
	kill -0 $WP 2>/dev/null || fail "the writer stopped before the $op"
	touch op.done
	wait $WP || fail "nbdcopy during $op"
	WP=""
	qemu-img compare -q -f raw -F raw want.raw "$L" ||
		fail "$op under load: the disk differs from what was written"
	stop
	"$V" check l.vmdk >/dev/null || fail "check after $op under load"
	echo "ok: $op under write load: $(cat op.json)"
	rm -f l.vmdk l-* l.vsnap
done
[ "$(pts d.vmdk)" = "A C D" ] || fail "tree: $(pts d.vmdk)"

# ---- linked clones from one base, several processes ----
"$V" create base.vmdk --size 16M >/dev/null
start base.vmdk b.sock
qio "$(nbd b.sock)" -c "write -P 0x42 0 16M" -c flush
stop
"$S" create base.vmdk --name tmpl >/dev/null
node=$("$S" list base.vmdk --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["snapshots"][0]["file"])')
for c in 1 2 3; do
	"$V" clone --linked --snapshot tmpl base.vmdk "c$c.vmdk" ||
		fail "linked clone $c"
done
start c1.vmdk c1.sock; P1=$SP
start c2.vmdk c2.sock; P2=$SP
SP2="$P1 $P2"
start c3.vmdk c3.sock; P3=$SP
SP2="$P1 $P2 $P3"
# The template's own current state served and written as well.
start base.vmdk b.sock
for c in 1 2 3; do
	qio "$(nbd c$c.sock)" -c "read -P 0x42 0 16M" -c "write -P 0x1$c 1M 1M" \
		-c flush
done
qio "$(nbd b.sock)" -c "write -P 0x55 0 16M" -c flush
for c in 1 2 3; do
	qio "$(nbd c$c.sock)" -c "read -P 0x42 0 1M" -c "read -P 0x1$c 1M 1M" \
		-c "read -P 0x42 2M 14M"
done
# The shared node: not writable, not deletable while clones use it.
expect_err 75 "read-only\|shared lock" "$V" serve "$node" --nbd "unix:$T/x.sock" --once
expect_err 1 "linked clone" "$S" delete base.vmdk tmpl
stop
for p in $P1 $P2 $P3; do kill $p; wait $p || fail "clone server exit"; done
SP2=""
rm -f x.raw
"$V" export base.vmdk --snapshot tmpl x.raw --format raw >/dev/null
qemu-io -f raw -c "read -P 0x42 0 16M" x.raw >qio.out &&
	! grep -q failed qio.out || fail "the template changed"
echo "ok: linked clones served by three processes over one base"

# ---- disk modes through the server ----
"$V" create n.vmdk --size 8M >/dev/null
start n.vmdk n.sock
qio "$(nbd n.sock)" -c "write -P 0x11 0 2M" -c flush
stop
"$S" mode n.vmdk nonpersistent >/dev/null
start n.vmdk n.sock
qio "$(nbd n.sock)" -c "write -P 0x22 0 1M" -c flush -c "read -P 0x22 0 1M"
stop
start n.vmdk n.sock
qio "$(nbd n.sock)" -c "read -P 0x11 0 2M" -c "write -P 0x33 1M 1M"
stop
"$S" mode n.vmdk undoable >/dev/null
for act in keep discard commit; do
	start n.vmdk n.sock
	qio "$(nbd n.sock)" -c "read -P 0x11 0 1M" -c "write -P 0x44 0 1M" -c flush
	stop
	"$S" mode n.vmdk --json | grep -q '"redo_log":true' || fail "no redo log"
	[ $act = keep ] && expect_err 75 "redo log is pending" "$S" mode n.vmdk persistent
	"$S" poweroff n.vmdk $act || fail "poweroff $act"
	# keep: the redo log reads on (and is then undone); discard: the
	# state before it; commit: its writes folded into the disk.
	rd() {
		rm -f n.raw
		"$V" export n.vmdk n.raw --format raw >/dev/null
		qemu-io -f raw -c "read -P $1 0 1M" n.raw >qio.out &&
			! grep -q failed qio.out || fail "undoable $act: $(cat qio.out)"
	}
	case $act in
	keep) rd 0x44; "$S" poweroff n.vmdk discard; rd 0x11 ;;
	discard) rd 0x11 ;;
	commit) rd 0x44 ;;
	esac
done
"$S" mode n.vmdk persistent >/dev/null
[ "$("$S" list n.vmdk --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["snapshots"]))')" = 0 ] ||
	fail "redo logs left nodes behind: $("$S" list n.vmdk)"
echo "ok: disk modes (nonpersistent; undoable keep, discard, commit)"

# ---- qcow2 backing chains ----
"$V" export d.vmdk dq.qcow2 --format qcow2 --chain >/dev/null ||
	fail "export --chain"
qemu-img check -q dq.qcow2 || fail "qemu-img check of the chain"
[ "$(qemu-img info --backing-chain dq.qcow2 | grep -c '^image:')" -ge 2 ] ||
	fail "not a backing chain: $(qemu-img info --backing-chain dq.qcow2)"
rm -f cur.raw
"$V" export d.vmdk cur.raw --format raw >/dev/null
qemu-img compare -q -f raw cur.raw dq.qcow2 || fail "chain reads differently"
"$V" export d.vmdk --snapshot C cq.qcow2 --format qcow2 --chain >/dev/null
qemu-img compare -q -f raw c.raw cq.qcow2 || fail "snapshot C as a chain"
"$V" import dq.qcow2 imp.vmdk --chain >/dev/null || fail "import --chain"
rm -f imp.raw
"$V" export imp.vmdk imp.raw --format raw >/dev/null
cmp imp.raw cur.raw || fail "imported chain differs"
"$V" check imp.vmdk >/dev/null || fail "check of the imported chain"
echo "ok: qcow2 backing chains out and back in"

# ---- bad input: clear error, nothing changed ----
"$V" create e.vmdk --size 8M >/dev/null
"$S" create e.vmdk --name one >/dev/null
start e.vmdk e.sock
qio "$(nbd e.sock)" -c "write -P 0x77 0 1M" -c flush
stop
"$S" create e.vmdk --name two >/dev/null
before=$(state e)
expect_err 1 "exists" "$S" create e.vmdk --name one
expect_err 1 "no snapshot 'nope'" "$S" revert e.vmdk nope
expect_err 1 "no snapshot 'nope'" "$S" delete e.vmdk nope
expect_err 2 "" "$S" create e.vmdk
[ "$(state e)" = "$before" ] || fail "a refused request changed files"
node=$("$S" list e.vmdk --json | python3 -c '
import json, sys
print([s for s in json.load(sys.stdin)["snapshots"] if s["name"] == "two"][0]["file"])')
delta=$(sed -n 's/^RDONLY .* VSDELTA "\(.*\)"$/\1/p' "$node")
[ -n "$delta" ] || fail "no delta in $node"
# bad_case NAME PATTERN: the disk (as damaged) refuses to open with one
# line naming the problem; check says so; nothing changes.
bad_case() {
	before=$(state e)
	expect_err 1 "$2" "$V" serve e.vmdk --nbd "unix:$T/e.sock" --once
	set +e
	"$V" check e.vmdk >chk.out 2>&1; rc=$?
	set -e
	[ $rc -ne 0 ] || fail "check accepts $1: $(cat chk.out)"
	expect_err 1 "$2" "$S" create e.vmdk --name three
	[ "$(state e)" = "$before" ] || fail "$1: files changed"
	echo "ok: $1: $(head -c 200 err.out)"
}
cp "$delta" keep.delta
rm "$delta"
bad_case "missing delta" "$delta"
cp keep.delta "$delta"
# Corrupt: the header copies' magic overwritten.
printf 'XXXXXXXX' | dd of="$delta" bs=1 seek=0 conv=notrunc 2>/dev/null
printf 'XXXXXXXX' | dd of="$delta" bs=1 seek=4096 conv=notrunc 2>/dev/null
bad_case "corrupt delta" "$delta"
cp keep.delta "$delta"
cp e.vmdk keep.vmdk
sed -i 's/^parentFileNameHint=.*/parentFileNameHint="gone.vmdk"/' e.vmdk
bad_case "broken parent link" "gone.vmdk"
cp keep.vmdk e.vmdk
sed -i 's/^parentCID=.*/parentCID=12345678/' e.vmdk
bad_case "content ID mismatch" "content ID"
cp keep.vmdk e.vmdk
"$V" check e.vmdk >/dev/null || fail "restored disk does not check"

# On a datastore (a file LUN, and an iSCSI LUN of a private tgtd when
# this machine can run one): online create, delete and commit through the
# server, revert of a disk another host holds refused (the server and
# vsnap are two hosts with their own heartbeat slots), revert when free.
ds_part() {
	L=$1
	"$F" mkfs "$L" --force >/dev/null || fail "mkfs $L"
	"$F" mkdir "$L:/vm"
	H="$L:/vm/h.vmdk"
	"$V" create "$H" --size 8M >/dev/null
	"$S" create "$H" --name one >/dev/null
	start "$H" h.sock
	qio "$(nbd h.sock)" -c "write -P 0x99 0 1M" -c flush
	"$F" get "$L:/vm/h.vsnap" tree.before --force >/dev/null
	expect_err 75 "revert needs the disk closed and it is in use" \
		"$S" revert "$H" one
	# Seen from another machine (no control socket of the holder to
	# ask): the lock's word on who holds it.
	mkdir -p other
	VSTACK_RUN_DIR="$T/other" expect_err 75 \
		"revert needs the disk closed: .*\(locked\|in use\|held\)" \
		"$S" revert "$H" one
	"$F" get "$L:/vm/h.vsnap" tree.after --force >/dev/null
	cmp tree.before tree.after || fail "a refused revert changed the tree"
	qio "$(nbd h.sock)" -c "read -P 0x99 0 1M"
	"$S" create "$H" --name two >/dev/null || fail "online create on $L"
	qio "$(nbd h.sock)" -c "write -P 0x98 1M 1M" -c flush
	"$S" create "$H" --name three >/dev/null
	qio "$(nbd h.sock)" -c "write -P 0x97 2M 1M" -c flush
	"$S" delete "$H" two >/dev/null || fail "online delete on $L"
	"$S" commit "$H" >/dev/null || fail "online commit on $L"
	qio "$(nbd h.sock)" -c "read -P 0x99 0 1M" -c "read -P 0x98 1M 1M" \
		-c "read -P 0x97 2M 1M"
	stop
	[ "$(pts "$H")" = "one" ] || fail "tree on $L: $(pts "$H")"
	"$S" revert "$H" one || fail "revert on $L"
	start "$H" h.sock
	qio "$(nbd h.sock)" -c "read -P 0 0 3M"
	stop
	# Linked clones of one template served at once by two processes
	# (two hosts, each holding the template's node under a shared lock).
	TM="$L:/vm/t.vmdk"
	"$V" create "$TM" --size 8M >/dev/null
	start "$TM" t.sock
	qio "$(nbd t.sock)" -c "write -P 0x61 0 8M" -c flush
	stop
	"$S" create "$TM" --name gold >/dev/null
	t0=$(date +%s%N)
	"$V" clone --linked --snapshot gold "$TM" "$L:/vm/k1.vmdk" ||
		fail "linked clone on $L"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	"$V" clone --linked --snapshot gold "$TM" "$L:/vm/k2.vmdk" ||
		fail "second linked clone on $L"
	"$S" list "$TM" | grep -q "base of 2 linked clones" ||
		fail "list does not show the clones: $("$S" list "$TM")"
	start "$L:/vm/k1.vmdk" k1.sock; K1=$SP
	SP2="$K1"
	start "$L:/vm/k2.vmdk" k2.sock; K2=$SP
	SP2="$K1 $K2"
	SP=""
	for k in 1 2; do
		qio "$(nbd k$k.sock)" -c "read -P 0x61 0 8M" \
			-c "write -P 0x7$k 0 1M" -c flush
	done
	for k in 1 2; do
		qio "$(nbd k$k.sock)" -c "read -P 0x7$k 0 1M" \
			-c "read -P 0x61 1M 7M"
	done
	expect_err 1 "linked clone" "$S" delete "$TM" gold
	for p in $K1 $K2; do
		kill $p; wait $p || fail "clone server exit on $L"
	done
	SP2=""
	"$V" check "$L:/vm/k1.vmdk" >/dev/null || fail "check clone on $L"
	"$V" check "$H" >/dev/null || fail "check on $L"
	"$F" fsck "$L" >fsck.out 2>&1 || fail "fsck: $(cat fsck.out)"
	echo "ok: datastore on $L: online create/delete/commit, revert of a" \
	     "disk another host holds refused, two linked clones served by" \
	     "two hosts at once (a clone made in $ms ms)"
}
truncate -s 256M lun.img
ds_part "$T/lun.img"
if [ "$(id -u)" = 0 ] && command -v tgtd >/dev/null &&
   command -v tgtadm >/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	# tgtadm takes control ports up to 32767 only.
	cport=$(( $$ % 30000 + 1500 ))
	truncate -s 256M iscsi.img
	tgtd -f --iscsi portal=127.0.0.1:$port -C $cport >tgtd.log 2>&1 &
	TP=$!
	for i in $(seq 50); do
		tgtadm -C $cport --lld iscsi --op show --mode target \
			>/dev/null 2>&1 && break
		sleep 0.1
	done
	iqn=iqn.2026-01.vstack.test:snap$$
	tgtadm -C $cport --lld iscsi --op new --mode target --tid 1 -T $iqn
	tgtadm -C $cport --lld iscsi --op new --mode logicalunit --tid 1 \
		--lun 1 -b "$T/iscsi.img"
	tgtadm -C $cport --lld iscsi --op bind --mode target --tid 1 -I ALL
	ds_part "iscsi://127.0.0.1:$port/$iqn/1"
	# tgtd ignores SIGTERM while it has targets.
	kill -KILL $TP; wait $TP 2>/dev/null || true; TP=""
else
	echo "note: no tgtd (or not root): iSCSI part not run"
fi
echo "all ok"
