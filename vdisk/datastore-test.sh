#!/bin/sh
# SPDX-License-Identifier: MIT
# Disks inside the clustered datastore (LUN:/dir/disk.vmdk) on a file
# LUN and, where root and tgtd are available, on an iSCSI LUN of a
# private tgtd on a free loopback port: the three types, import and
# export checked against qemu-img, NBD through the engine's LUN data
# path, extend/inflate/clone/rename/rm, and a second "host" (another
# process with its own heartbeat slot) refused with the holder's name.
#   datastore-test.sh VDISK-BINARY VFS-BINARY
set -eu
V=$1
F=$2
for p in qemu-img qemu-io python3; do
	command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
T=$(mktemp -d)
SP=""
trap '[ -n "$SP" ] && kill -KILL $SP 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

run_on() { # LUN-URI
	L=$1
	"$F" mkfs "$L" --force >/dev/null || fail "mkfs $L"
	"$F" mkdir "$L:/vm1" || fail "mkdir"
	for t in thin zeroedthick eagerzeroedthick; do
		"$V" create "$L:/vm1/$t.vmdk" --size 64M --type $t ||
			fail "create $t"
		"$V" info "$L:/vm1/$t.vmdk" --json >info.json
		[ "$(json 'd["type"], d["capacity"]' <info.json)" = \
		  "$t 67108864" ] || fail "info $t: $(cat info.json)"
		alloc=$(json 'd["allocated"]' <info.json)
		if [ $t = thin ]; then
			[ "$alloc" -eq 0 ] || fail "thin allocated $alloc"
		else
			[ "$alloc" -ge 67108864 ] || fail "$t allocated $alloc"
		fi
	done

	# Import, export, compare.
	"$V" import src.qcow2 "$L:/vm1/imp.vmdk" >/dev/null || fail "import"
	"$V" export "$L:/vm1/imp.vmdk" out.raw --format raw >/dev/null ||
		fail "export"
	cmp out.raw want.raw || fail "round trip through the datastore"
	"$V" export "$L:/vm1/imp.vmdk" out.qcow2 --format qcow2 >/dev/null
	qemu-img compare -q want.raw out.qcow2 || fail "qcow2 export"
	rm -f out.raw out.qcow2

	# NBD over the datastore data path.
	"$V" serve "$L:/vm1/thin.vmdk" --nbd "unix:$T/s.sock" 2>serve.err &
	SP=$!
	for i in $(seq 100); do [ -S s.sock ] && break; sleep 0.05; done
	U="nbd+unix:///?socket=$T/s.sock"
	qemu-io -f raw -c "write -P 0x5a 1M 3M" -c "write -P 0x6b 60M 64k" \
		-c "flush" -c "read -P 0x5a 1M 3M" -c "read -P 0 0 1M" \
		-c "read -P 0x6b 60M 64k" "$U" >qio.out || fail "qemu-io"
	grep -q "failed" qio.out && fail "$(cat qio.out)"
	# A second host: its own process, its own heartbeat slot.
	set +e
	"$V" extend "$L:/vm1/thin.vmdk" --size 128M 2>err; rc=$?
	set -e
	[ $rc -eq 75 ] || fail "second host got exit $rc: $(cat err)"
	grep -q "locked by host .*mode rw" err || fail "message: $(cat err)"
	"$V" info "$L:/vm1/thin.vmdk" --json | grep -q '"held":true' ||
		fail "info shows no lock"
	kill $SP; wait $SP || fail "serve: $(cat serve.err)"; SP=""
	"$V" info "$L:/vm1/thin.vmdk" --json >info.json
	[ "$(json 'd["allocated"] > 0' <info.json)" = True ] ||
		fail "thin disk did not allocate"

	"$V" extend "$L:/vm1/thin.vmdk" --size 4G || fail "extend"
	"$V" inflate "$L:/vm1/zeroedthick.vmdk" || fail "inflate"
	"$V" clone "$L:/vm1/thin.vmdk" "$L:/vm1/cl.vmdk" || fail "clone"
	"$V" export "$L:/vm1/cl.vmdk" cl.raw --format raw >/dev/null
	qemu-io -f raw -c "read -P 0x5a 1M 3M" -c "read -P 0 128M 1M" cl.raw \
		>qio.out && ! grep -q failed qio.out || fail "clone content"
	rm -f cl.raw
	"$V" rename "$L:/vm1/cl.vmdk" "$L:/vm1/moved.vmdk" || fail "rename"
	"$V" rm "$L:/vm1/moved.vmdk" --force || fail "rm"
	"$F" ls "$L:/vm1" >ls.out
	grep -q "moved\|cl" ls.out && fail "rm left files: $(cat ls.out)"
	"$F" fsck "$L" >fsck.out 2>&1 || fail "fsck: $(cat fsck.out)"
	echo "ok datastore on $L"
}

python3 - <<'PY'
import os
with open("src.raw", "wb") as f:
    f.truncate(32 << 20)
    for off in range(0, 32 << 20, 5 << 20):
        f.seek(off); f.write(os.urandom(300000))
PY
qemu-img convert -O qcow2 src.raw src.qcow2
qemu-img convert -O raw src.qcow2 want.raw
truncate -s 2G lun.img
run_on "$T/lun.img"

# iSCSI through a private tgtd, when this machine can run one.
if [ "$(id -u)" = 0 ] && command -v tgtd >/dev/null &&
   command -v tgtadm >/dev/null; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	# tgtadm takes control ports up to 32767 only.
	cport=$(( $$ % 30000 + 1000 ))
	truncate -s 2G iscsi.img
	tgtd -f --iscsi portal=127.0.0.1:$port -C $cport >tgtd.log 2>&1 &
	TP=$!
	SP="$TP"
	for i in $(seq 50); do
		tgtadm -C $cport --lld iscsi --op show --mode target \
			>/dev/null 2>&1 && break
		sleep 0.1
	done
	iqn=iqn.2026-01.vstack.test:vdisk$$
	tgtadm -C $cport --lld iscsi --op new --mode target --tid 1 -T $iqn
	tgtadm -C $cport --lld iscsi --op new --mode logicalunit --tid 1 \
		--lun 1 -b "$T/iscsi.img"
	tgtadm -C $cport --lld iscsi --op bind --mode target --tid 1 -I ALL
	U="iscsi://127.0.0.1:$port/$iqn/1"
	if "$F" mkfs "$U" --force 2>mkfs.err; then
		run_on "$U"
	elif grep -q "unknown LUN scheme" mkfs.err; then
		echo "note: this build's LUN layer has no iSCSI backend yet:" \
		     "iSCSI part not run"
	else
		fail "mkfs on iSCSI: $(cat mkfs.err)"
	fi
	# tgtd ignores SIGTERM while it has targets.
	kill -KILL $TP; wait $TP 2>/dev/null || true; SP=""
else
	echo "note: no tgtd (or not root): iSCSI part not run"
fi
echo "all ok"
