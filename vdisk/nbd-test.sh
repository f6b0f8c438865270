#!/bin/sh
# SPDX-License-Identifier: MIT
# `vdisk serve` against real NBD clients: qemu-io (writes, reads,
# write-zeroes, discard, flush), qemu-img (convert, compare, map),
# nbdinfo (handshake, contexts, block status); a read-only export; TCP
# on a free loopback port; garbage and out-of-range requests.
#   nbd-test.sh VDISK-BINARY
set -eu
V=$1
for p in qemu-io qemu-img nbdinfo python3; do
	command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }
done
T=$(mktemp -d)
SP=""
trap '[ -n "$SP" ] && kill $SP 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
start() { # DISK LISTEN [ARGS...]
	d=$1; l=$2; shift 2
	"$V" serve "$d" --nbd "$l" "$@" 2>serve.err &
	SP=$!
	for i in $(seq 100); do
		if [ "${l#unix:}" != "$l" ]; then
			[ -S "${l#unix:}" ] && break
		elif nbdinfo --size "nbd://127.0.0.1:${l##*:}" >/dev/null 2>&1; then
			break
		fi
		sleep 0.05
	done
}
stop() { kill "$SP"; wait "$SP" || fail "server exit: $(cat serve.err)"; SP=""; }

"$V" create d.vmdk --size 64M >/dev/null
U="nbd+unix:///?socket=$T/s.sock"
start d.vmdk "unix:$T/s.sock"
qemu-io -f raw -c "write -P 0xa1 0 1M" -c "write -P 0xb2 5M 64k" \
	-c "write -P 0xc3 63M 1M" -c "write -z 5M 4k" -c "discard 63M 512k" \
	-c "flush" -c "read -P 0xa1 0 1M" -c "read -P 0 5M 4k" \
	-c "read -P 0xb2 5246976 61440" -c "read -P 0 63M 512k" \
	-c "read -P 0xc3 66584576 512k" -c "read -P 0 2M 1M" "$U" >qio.out ||
	fail "qemu-io: $(cat qio.out)"
grep -q "Pattern verification failed\|failed" qio.out && fail "$(cat qio.out)"
nbdinfo "$U" >info.out
grep -q "export-size: 67108864" info.out || fail "size: $(cat info.out)"
grep -q "base:allocation" info.out || fail "no base:allocation"
grep -q "can_trim: true" info.out || fail "trim not offered"
grep -q "can_zero: true" info.out || fail "write zeroes not offered"
grep -q "structured" info.out || fail "structured replies not used"
nbdinfo --map "$U" >map.out
# Data at 0-1M; a hole after it; trimmed 63M-63.5M is a hole again.
awk '$1 == 0 && $2 == 1048576 && $3 == 0 { ok = 1 } END { exit !ok }' \
	map.out || fail "map start: $(cat map.out)"
awk '$1 <= 66060288 && 66060288 < $1 + $2 && $4 ~ /hole/ { ok = 1 }
     END { exit !ok }' \
	map.out || fail "map trim: $(cat map.out)"
qemu-img map -f raw --output=json "$U" | grep -q '"data": true' ||
	fail "qemu-img map"
# A whole copy through NBD equals an export of the disk.
qemu-img convert -f raw -O raw "$U" via-nbd.raw
stop
"$V" export d.vmdk direct.raw --format raw >/dev/null
cmp via-nbd.raw direct.raw || fail "NBD copy differs from export"

# Writes into the disk through qemu-img convert, checked by compare.
python3 -c "
import os
with open('pat.raw', 'wb') as f:
    f.truncate(64 << 20)
    for i in range(0, 64 << 20, 3 << 20):
        f.seek(i); f.write(os.urandom(100000))"
start d.vmdk "unix:$T/s.sock"
qemu-img convert -n -f raw -O raw pat.raw "$U" || fail "convert into NBD"
qemu-img compare -f raw -F raw pat.raw "$U" || fail "compare over NBD"
stop

# Read-only export: writes refused, reads fine, and a second reader
# may open the disk while it is served.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start d.vmdk "tcp:127.0.0.1:$port" --readonly
R="nbd://127.0.0.1:$port"
nbdinfo "$R" | grep -q "is_read_only: true" || fail "not read-only"
if qemu-io -f raw -c "write 0 4k" "$R" >ro.out 2>&1 &&
   ! grep -q "failed" ro.out; then
	fail "write accepted on a read-only export"
fi
qemu-io -r -f raw -c "read -P 0 2M 4k" "$R" >/dev/null || fail "ro read"
"$V" info d.vmdk --json | grep -q '"held":true' || fail "no shared lock"
"$V" export d.vmdk ro.raw --format raw >/dev/null ||
	fail "a reader could not share the disk"
stop

# Garbage and nonsense from a client: the server survives, answers the
# next client, and nothing is written.
start d.vmdk "unix:$T/s.sock"
python3 - "$T/s.sock" <<'PY'
import socket, struct, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(5)
    assert s.recv(18)[:8] == b"NBDMAGIC"
    return s
def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
# 1: random bytes instead of flags and options.
s = conn(); s.sendall(b"\xff" * 64); s.close()
# 2: an option with a 4 GiB payload length: dropped, not read.
s = conn(); s.sendall(struct.pack(">I", 1) + b"IHAVEOPT" +
                      struct.pack(">II", 7, 0xffffffff)); s.close()
# 3: a proper session, then out-of-range and garbage requests.
s = conn(); s.sendall(struct.pack(">I", 3))
name = b""
s.sendall(b"IHAVEOPT" + struct.pack(">II", 7, 4 + len(name) + 2) +
          struct.pack(">I", 0) + struct.pack(">H", 0))
while True:
    h = recv_exact(s, 20)
    _, opt, typ, ln = struct.unpack(">QIII", h)
    recv_exact(s, ln)
    if typ == 1: break
def req(typ, off, ln, flags=0, cookie=7, payload=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, off, ln)
              + payload)
    magic, err, ck = struct.unpack(">IIQ", recv_exact(s, 16))
    assert magic == 0x67446698 and ck == cookie, (magic, ck)
    return err
assert req(0, 64 << 20, 512) == 22                # read past the end
assert req(1, (64 << 20) - 512, 1024, payload=b"x" * 1024) in (22, 28)
assert req(1, 3, 512, payload=b"y" * 512) == 22   # misaligned write
assert req(4, 1 << 62, 512) == 22                 # trim far out
assert req(6, (1 << 64) - 512, 1024) == 22        # offset wraps
assert req(99, 0, 512) == 22                      # unknown command
assert req(0, 0, 512, flags=0x80) == 22           # unknown flag
assert req(7, 0, 512) == 22                       # no context negotiated
s.sendall(b"\x00" * 28)                           # bad magic: dropped
try:
    assert s.recv(1) == b""
except (ConnectionResetError, socket.timeout):
    pass
print("garbage handled")
PY
qemu-io -f raw -c "read -P 0 64M-512 512" "$U" >/dev/null 2>&1 ||
	qemu-io -f raw -c "read -P 0 67108352 512" "$U" >/dev/null ||
	fail "server did not survive garbage"
stop
"$V" export d.vmdk after.raw --format raw >/dev/null
# The refused writes did not land: the disk still equals what the last
# good client wrote.
cmp after.raw pat.raw || fail "garbage changed the disk"
echo "all ok"
