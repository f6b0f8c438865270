#!/bin/sh
# SPDX-License-Identifier: MIT
# One snapshot over disks held by different processes (two `vdisk serve`
# processes and a disk nobody holds), with qemu-io as the NBD clients:
#   - the group create: every disk gets the snapshot, the two holds
#     overlap, and the snapshot of each disk is what was written before
#   - vsnap killed (SIGKILL) while both hold: each server lets go at
#     once (the connection closed), nothing is taken
#   - vsnap stopped while both hold, past --hold-limit: each server lets
#     go by itself, a client's read waiting in the hold completes
#   - the coordinator's server killed while holding: the other server's
#     I/O goes on, nothing is taken, the dead one's disk rolled back
#   - a server killed after the decision: every disk has the snapshot
#     (the dead one's finished by vsnap)
#   - the coordinator's server stopped (alive, not answering): the other
#     lets go after its deadline and the resolve's timeout, its part left
#     to its next open, which rolls it back
#   group-test.sh VDISK VSNAP
set -eu
V=$1
S=$2
for p in qemu-io python3; do
	command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
T=$(mktemp -d)
PA=""
PB=""
VP=""
cleanup() {
	for p in $PA $PB $VP; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
cd "$T"
export VSTACK_RUN_DIR="$T/run"
fail() { echo "FAIL: $*" >&2; exit 1; }

# serve DISK SOCKET: prints the server's pid.
serve() {
	rm -f "$2"
	"$V" serve "$1" --nbd "unix:$2" >/dev/null 2>>serve.err &
	p=$!
	for i in $(seq 200); do
		[ -S "$2" ] && { echo $p; return 0; }
		sleep 0.02
	done
	fail "serve $1 did not start: $(cat serve.err)"
}
# gone [-SIGNAL] PID...: kills them and waits until they have exited (a
# server is started in a subshell, so it is not this shell's child).
gone() {
	sig=-TERM
	case $1 in -*) sig=$1; shift ;; esac
	kill $sig "$@" 2>/dev/null || true
	for p in "$@"; do
		for i in $(seq 500); do
			# Exited: gone, or a zombie nobody reaped yet.
			st=$(ps -o stat= -p $p 2>/dev/null | cut -c1)
			[ -z "$st" ] || [ "$st" = Z ] && continue 2
			sleep 0.02
		done
		fail "pid $p did not exit"
	done
}
qio() {
	s=$1; shift
	timeout 10 qemu-io -f raw "$@" "nbd+unix:///?socket=$T/$s" >qio.out 2>&1 ||
		fail "qemu-io: $(cat qio.out)"
	! grep -q "failed\|error" qio.out || fail "qemu-io: $(cat qio.out)"
}
# has DISK NAME: 1 or 0; fails if an operation is left pending.
has() {
	"$S" list "$1" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["pending"] is None, d
print(1 if any(s["name"] == sys.argv[1] for s in d["snapshots"]) else 0)' "$2" ||
		fail "$1: $("$S" list "$1")"
}
# bg_vsnap STOP-AT ARGS...: vsnap in the background, stopped after a
# phase (VSTACK_SNAP_TEST_STOP); sets VP once it has stopped.
bg_vsnap() {
	at=$1; shift
	VSTACK_SNAP_TEST_STOP=$at "$S" "$@" >vsnap.out 2>vsnap.err &
	VP=$!
	for i in $(seq 500); do
		[ "$(ps -o stat= -p $VP | cut -c1)" = T ] && return 0
		sleep 0.01
	done
	fail "vsnap did not reach '$at': $(cat vsnap.err)"
}
# end_vsnap: continues it; its exit code must be 1 (or it was killed).
end_vsnap() {
	kill -CONT $VP 2>/dev/null || true
	rc=0
	wait $VP || rc=$?
	VP=""
	[ $rc -eq 1 ] || [ $rc -eq 137 ] || fail "vsnap exit $rc: $(cat vsnap.err)"
}

for d in a b c; do "$V" create $d.vmdk --size 16M >/dev/null; done
PA=$(serve a.vmdk a.sock)
PB=$(serve b.vmdk b.sock)

# ---- the group create ----
qio a.sock -c "write -P 0xa1 0 4M" -c flush
qio b.sock -c "write -P 0xb1 0 4M" -c flush
"$S" create a.vmdk b.vmdk c.vmdk --name g1 --json >g1.json 2>vsnap.err ||
	fail "group create: $(cat vsnap.err)"
python3 -c '
import json, sys
h = json.load(open("g1.json"))["holds"]
assert len(h) == 2, h
assert max(x["hold_start_ns"] for x in h) < min(x["hold_end_ns"] for x in h), h
' || fail "holds: $(cat g1.json)"
qio a.sock -c "write -P 0xa2 0 1M" -c flush -c "read -P 0xa1 1M 3M"
qio b.sock -c "write -P 0xb2 0 1M" -c flush
for d in a b c; do [ "$(has $d.vmdk g1)" = 1 ] || fail "$d has no g1"; done

# ---- vsnap killed while both hold ----
bg_vsnap hold create a.vmdk b.vmdk c.vmdk --name g2
kill -KILL $VP
end_vsnap
qio a.sock -c "read -P 0xa2 0 1M"
qio b.sock -c "read -P 0xb2 0 1M"

# ---- vsnap stopped past its hold limit ----
bg_vsnap hold create a.vmdk b.vmdk --name g3 --hold-limit 300
# A read issued during the hold completes once the server lets go.
qio b.sock -c "read -P 0xb2 0 1M"
end_vsnap
grep -q "deadline" vsnap.err || fail "message: $(cat vsnap.err)"
grep -q "nothing was taken" vsnap.err || fail "message: $(cat vsnap.err)"
[ "$(has b.vmdk g3)" = 0 ] || fail "b has g3"

# ---- the coordinator's server killed while holding ----
bg_vsnap hold create a.vmdk b.vmdk c.vmdk --name g4
gone -KILL $PA
PA=""
end_vsnap
grep -q "a.vmdk (held by pid.*connection was lost.*nothing was taken" \
	vsnap.err || fail "message: $(cat vsnap.err)"
qio b.sock -c "write -P 0xb3 0 1M" -c flush -c "read -P 0xb3 0 1M"
for d in a b c; do [ "$(has $d.vmdk g4)" = 0 ] || fail "$d has g4"; done
PA=$(serve a.vmdk a.sock)

# ---- a server killed after the decision ----
bg_vsnap decide create a.vmdk b.vmdk c.vmdk --name g5
gone -KILL $PB
PB=""
end_vsnap
grep -q "b.vmdk (held by pid.*switch.*finished here" vsnap.err ||
	fail "message: $(cat vsnap.err)"
qio a.sock -c "read -P 0xa2 0 1M"
for d in a b c; do [ "$(has $d.vmdk g5)" = 1 ] || fail "$d has no g5"; done
PB=$(serve b.vmdk b.sock)
qio b.sock -c "read -P 0xb3 0 1M"
gone -KILL $PA $PB

# ---- the coordinator's server alive but not answering ----
PA=$(serve a.vmdk a.sock)
PB=$(serve b.vmdk b.sock)
bg_vsnap hold create a.vmdk b.vmdk --name g6 --hold-limit 300
kill -STOP $PA
# b's hold ends at its deadline plus the resolve's 2 s: its read goes on.
qio b.sock -c "read -P 0xb3 0 1M"
kill -CONT $PA
end_vsnap
# b's part is left to its next open, which rolls it back as a did.
"$S" list b.vmdk | grep -q "pending create" || fail "b: $("$S" list b.vmdk)"
gone -KILL $PB
PB=$(serve b.vmdk b.sock)
for d in a b; do [ "$(has $d.vmdk g6)" = 0 ] || fail "$d has g6"; done
gone -KILL $PA $PB
PA=""
PB=""

# Every point reads as written: g1 held the first patterns.
"$V" export a.vmdk --snapshot g1 a1.raw --format raw >/dev/null
"$V" export b.vmdk --snapshot g1 b1.raw --format raw >/dev/null
qemu-io -f raw -c "read -P 0xa1 0 4M" a1.raw >qio.out || fail "a at g1"
qemu-io -f raw -c "read -P 0xb1 0 4M" b1.raw >qio.out || fail "b at g1"
! grep -q "failed" qio.out || fail "b at g1: $(cat qio.out)"
for d in a b c; do "$V" check $d.vmdk >/dev/null || fail "check $d"; done
echo "ok"
