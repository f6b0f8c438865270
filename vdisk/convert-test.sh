#!/bin/sh
# SPDX-License-Identifier: MIT
# Import/export round trips checked by qemu's tools: qemu-img makes
# images with random content; `vdisk import` then `vdisk export --format
# raw` must equal `qemu-img convert -O raw` byte for byte; exports in
# qcow2 and vmdk must pass `qemu-img compare` and `qemu-img check`; bad
# images give one clear error line and leave nothing behind.
#   convert-test.sh VDISK-BINARY
set -eu
V=$1
command -v qemu-img >/dev/null || { echo "SKIP: qemu-img missing"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 48 MiB + 7 sectors: not a multiple of the 64 KiB clusters.
python3 - <<'PY'
import os, random
random.seed(11)
size = (48 << 20) + 7 * 512
with open("src.raw", "wb") as f:
    f.truncate(size)
    for _ in range(40):
        off = random.randrange(0, size - 400000) // 512 * 512
        f.seek(off)
        f.write(os.urandom(random.randrange(512, 400000)))
    f.seek(size - 1024)
    f.write(os.urandom(1024))
    # A run of written zeros: must not be written by us either.
    f.seek(20 << 20)
    f.write(bytes(1 << 20))
PY

qemu-img convert -O qcow2 src.raw a.qcow2
qemu-img convert -O qcow2 -c src.raw c.qcow2
qemu-img convert -O qcow2 -c -o compression_type=zstd src.raw z.qcow2
qemu-img convert -O qcow2 -o compat=0.10,cluster_size=4096 src.raw v2.qcow2
qemu-img convert -O qcow2 -o cluster_size=2M src.raw big.qcow2
qemu-img convert -O vmdk src.raw s.vmdk
qemu-img convert -O vmdk -o subformat=streamOptimized src.raw so.vmdk
qemu-img convert -O vmdk -o subformat=monolithicFlat src.raw fl.vmdk
qemu-img convert -O vmdk -o subformat=twoGbMaxExtentSparse src.raw ts.vmdk
# An overlay on a qcow2 base, with new data and zeroed clusters.
qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 ov.qcow2
qemu-io -c "write -P 0x5c 3M 2M" -c "write -z 40M 1M" ov.qcow2 >/dev/null
# A two-deep chain over a raw base.
qemu-img create -q -f qcow2 -b src.raw -F raw ch1.qcow2
qemu-io -c "write -P 0x33 10M 64k" ch1.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b ch1.qcow2 -F qcow2 ch2.qcow2
qemu-io -c "write -P 0x44 10M 4k" ch2.qcow2 >/dev/null

for img in src.raw a.qcow2 c.qcow2 z.qcow2 v2.qcow2 big.qcow2 s.vmdk \
	   so.vmdk fl.vmdk ts.vmdk ov.qcow2 ch2.qcow2; do
	qemu-img convert -O raw "$img" "want-$img.raw"
	"$V" import "$img" "d-$img.vmdk" >/dev/null ||
		fail "import $img"
	"$V" export "d-$img.vmdk" "got-$img.raw" --format raw >/dev/null ||
		fail "export $img"
	cmp "want-$img.raw" "got-$img.raw" || fail "$img: content differs"
	echo "ok import $img"
done

# Zeros and holes were not written: the thin disk holds about the data.
alloc=$("$V" info d-a.qcow2.vmdk --json | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["allocated"])')
data=$(qemu-img map --output=json src.raw | python3 -c '
import json, sys
print(sum(e["length"] for e in json.load(sys.stdin) if e["data"]))')
[ "$alloc" -le "$data" ] || fail "import wrote zeros: $alloc > $data"
written=$("$V" export d-a.qcow2.vmdk e.raw --format raw --json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_written"])')
[ "$written" -le "$data" ] || fail "export wrote zeros: $written > $data"

# Types on import.
"$V" import c.qcow2 eager.vmdk --type eagerzeroedthick >/dev/null
"$V" info eager.vmdk --json | grep -q '"type":"eagerzeroedthick"' ||
	fail "import --type"
"$V" export eager.vmdk eager.raw --format raw >/dev/null
cmp eager.raw want-src.raw.raw || fail "eager import content"

# Exports in every format, checked by qemu-img.
for fmt in qcow2 vmdk vmdk-stream; do
	"$V" export d-ov.qcow2.vmdk "e.$fmt" --format "$fmt" >/dev/null ||
		fail "export $fmt"
	qemu-img compare -q "want-ov.qcow2.raw" "e.$fmt" ||
		fail "qemu-img compare $fmt"
	qemu-img check -q "e.$fmt" || fail "qemu-img check $fmt"
	# And back in through our own readers.
	"$V" import "e.$fmt" "back-$fmt.vmdk" >/dev/null
	"$V" export "back-$fmt.vmdk" "back-$fmt.raw" --format raw >/dev/null
	cmp "back-$fmt.raw" "want-ov.qcow2.raw" || fail "re-import $fmt"
	echo "ok export $fmt"
done
"$V" export d-a.qcow2.vmdk e.qcow2 --format qcow2 2>err &&
	fail "export over an existing file"
grep -q "exists" err || fail "no 'exists' message: $(cat err)"

# ---- bad images: one clear line, exit 1, nothing created ----
bad() { # NAME PATTERN
	if "$V" import "$1" "bad-$1.vmdk" >out 2>err; then
		fail "$1: accepted"
	fi
	[ "$(wc -l <err)" -eq 1 ] || fail "$1: not one error line: $(cat err)"
	grep -q "$2" err || fail "$1: message '$(cat err)' lacks '$2'"
	[ ! -e "bad-$1.vmdk" ] && [ ! -e "bad-$1-flat.vmdk" ] ||
		fail "$1: left a disk behind"
	echo "ok rejects $1: $(cat err)"
}
head -c 100000 a.qcow2 >trunc.qcow2
bad trunc.qcow2 "outside the file\|cut off"
head -c 50 a.qcow2 >hdr.qcow2
bad hdr.qcow2 "truncated"
python3 - <<'PY'
import struct
b = bytearray(open("a.qcow2", "rb").read())
l1 = struct.unpack(">Q", b[40:48])[0]
l2 = struct.unpack(">Q", b[l1:l1 + 8])[0] & 0x00fffffffffffe00
for i in range(8192):
    e = struct.unpack(">Q", b[l2 + 8 * i:l2 + 8 * i + 8])[0]
    if e & 0x00fffffffffffe00:
        far = (len(b) + (1 << 30)) & ~0xffff
        b[l2 + 8 * i:l2 + 8 * i + 8] = struct.pack(">Q", (1 << 63) | far)
        break
open("l2out.qcow2", "wb").write(b)
c = bytearray(open("a.qcow2", "rb").read())
c[40:48] = struct.pack(">Q", 1 << 50)
open("l1out.qcow2", "wb").write(c)
d = bytearray(open("a.qcow2", "rb").read())
d[72:80] = struct.pack(">Q", 1 << 4)
open("extl2.qcow2", "wb").write(d)
s = bytearray(open("s.vmdk", "rb").read())
s[20:28] = struct.pack("<Q", 3)       # grain size not a power of two
open("grain.vmdk", "wb").write(s)
PY
bad l2out.qcow2 "points outside the file"
bad l1out.qcow2 "L1 table"
bad extl2.qcow2 "extended L2"
bad grain.vmdk "grain size"
head -c 300000 so.vmdk >trunc-so.vmdk
bad trunc-so.vmdk "footer\\|outside the file"
printf 'createType="monolithicFlat"\nRW 100 FLAT "missing-flat.vmdk" 0\n' \
	>missing.vmdk
bad missing.vmdk "missing-flat.vmdk"
printf 'createType="vmfs"\nRW 100 BOGUS "x"\n' >nonsense.vmdk
bad nonsense.vmdk "unknown extent type"
qemu-img create -q -f vmdk -o subformat=monolithicSparse base.vmdk 1M
printf '# Disk DescriptorFile\nCID=1\nparentCID=2\nparentFileNameHint="base.vmdk"\ncreateType="vmfsSparse"\nRW 2048 VMFSSPARSE "delta.vmdk"\n' >delta.vmdk
bad delta.vmdk "delta"
printf 'not an image at all, and odd-sized' >odd.raw
bad odd.raw "multiple of 512"
echo "all ok"
