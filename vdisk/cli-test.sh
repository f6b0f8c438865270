#!/bin/sh
# SPDX-License-Identifier: MIT
# The vdisk command line: every disk subcommand, --json output, exit
# codes (0 ok, 1 failed, 2 usage, 75 busy) and one-line errors.
#   cli-test.sh VDISK-BINARY
set -eu
V=$1
T=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { # CODE CMD...
	want=$1; shift
	set +e; "$@" >out 2>err; got=$?; set -e
	[ "$got" -eq "$want" ] || fail "'$*' exited $got, want $want: $(cat err)"
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

expect 0 "$V" --help
expect 0 "$V" create --help
grep -q "Usage: vdisk create" out || fail "create --help"
expect 2 "$V"
expect 2 "$V" nosuch
expect 2 "$V" create d.vmdk
expect 2 "$V" create d.vmdk --size 12X
expect 2 "$V" create d.vmdk --size 1G --type fat
expect 2 "$V" create d.vmdk --size 1000

expect 0 "$V" create d.vmdk --size 1G
expect 1 "$V" create d.vmdk --size 1G
[ "$(wc -l <err)" -eq 1 ] && grep -q "exists" err || fail "exists: $(cat err)"
expect 0 "$V" info d.vmdk --json
[ "$(json 'd["capacity"], d["type"], d["lock"]["held"]' <out)" = \
  "1073741824 thin False" ] || fail "info json: $(cat out)"
expect 0 "$V" info d.vmdk
grep -q "thin" out || fail "info text"
# qemu reads our descriptor as a VMDK (ESX "vmfs" layout).
if command -v qemu-img >/dev/null; then
	qemu-img info d.vmdk | grep -q "virtual size: 1 GiB" ||
		fail "qemu-img info on our disk"
fi

expect 0 "$V" extend d.vmdk --size 4T
expect 0 "$V" info d.vmdk --json
[ "$(json 'd["capacity"]' <out)" = 4398046511104 ] || fail "extend"
expect 1 "$V" extend d.vmdk --size 1G
grep -q "not smaller" err || fail "shrink message: $(cat err)"

expect 0 "$V" create t.vmdk --size 8M --type zeroedthick --cbt
expect 0 "$V" inflate t.vmdk
expect 0 "$V" info t.vmdk --json
[ "$(json 'd["type"], d["cbt"]["enabled"], d["cbt"]["known"]' <out)" = \
  "eagerzeroedthick True True" ] || fail "inflate/cbt: $(cat out)"
expect 0 "$V" map t.vmdk --json
[ "$(json 'len(d), d[0]["allocated"], d[0]["length"]' <out)" = \
  "1 True 8388608" ] || fail "map thick: $(cat out)"
expect 0 "$V" map d.vmdk --json
[ "$(json 'd[0]["data"], d[0]["zero"], d[0]["allocated"]' <out)" = \
  "False True False" ] || fail "map thin: $(cat out)"

expect 0 "$V" clone t.vmdk c.vmdk --type thin
expect 0 "$V" info c.vmdk --json
[ "$(json 'd["type"], d["allocated"]' <out)" = "thin 0" ] ||
	fail "thin clone of an empty thick disk: $(cat out)"
expect 0 "$V" rename c.vmdk r.vmdk
[ ! -e c.vmdk ] && [ -e r-flat.vmdk ] || fail "rename files"
expect 1 "$V" info c.vmdk
grep -q "No such file" err || fail "missing disk message: $(cat err)"
expect 0 "$V" check r.vmdk --json
[ "$(json 'd["errors"]' <out)" = 0 ] || fail "check"
truncate -s 1M r-flat.vmdk
expect 1 "$V" check r.vmdk
expect 0 "$V" check r.vmdk --repair
expect 0 "$V" check r.vmdk

# Busy: a server holds the exclusive lock; others get 75 and a name.
"$V" serve t.vmdk --nbd "unix:$T/s.sock" 2>serve.err &
pids="$!"
for i in $(seq 50); do [ -S s.sock ] && break; sleep 0.1; done
[ -S s.sock ] || fail "server did not start: $(cat serve.err)"
expect 75 "$V" extend t.vmdk --size 16M
[ "$(wc -l <err)" -eq 1 ] && grep -q "locked by host .* pid $pids" err ||
	fail "lock message: $(cat err)"
expect 75 "$V" rm t.vmdk --force
expect 0 "$V" info t.vmdk --json
[ "$(json 'd["lock"]["held"]' <out)" = True ] || fail "info lock"
kill "$pids"; wait "$pids" || true; pids=""

expect 1 "$V" rm t.vmdk
grep -q "force" err || fail "rm without --force: $(cat err)"
expect 0 "$V" rm t.vmdk --force
[ ! -e t.vmdk ] && [ ! -e t-flat.vmdk ] && [ ! -e t-ctk.vmdk ] ||
	fail "rm left files"
expect 0 "$V" rm d.vmdk
echo "all ok"
