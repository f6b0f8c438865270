#!/bin/bash
# SPDX-License-Identifier: MIT
# A vhost-user peer that hands the switch invalid descriptors: addresses
# outside its memory, lengths past its end, looping and out-of-range
# chains, heads past the queue, bad indirect tables, on the queue the
# switch reads and on the one it writes (vswitch-vhost-peer hostile).
# Meanwhile two good peers flood broadcasts to it, each other and a null
# port. The switch must stay up, take the hostile peer's good frames sent
# after the bad ones, keep forwarding the good peers' frames, and answer
# requests. Then kill -9 and a restart from the saved config: the good
# peers (servers, as VMMs are) see frames again within 1 s.
#   vswitch-vhost-hostile-test.sh BUILD-DIR PEER-PROGRAM
set -u
build=$(cd "${1:?usage: $0 BUILD-DIR PEER-PROGRAM}" && pwd)
peer=${2:?usage: $0 BUILD-DIR PEER-PROGRAM}
skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL: $*" >&2
	ctl stats >&2 2>/dev/null
	cat "$tmp/good.log" "$tmp/good2.log" "$tmp/hostile.log" >&2 2>/dev/null
	tail -20 "$tmp/vswitchd.log" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || skip "needs root"

tmp=$(mktemp -d /tmp/vswhostile.XXXXXX)
sock=$tmp/ctl.sock
dpid= gpid= g2pid= hpid=
ctl() { "$build/tools/vswitchctl" --socket "$sock" "$@"; }
cleanup() {
	for p in $gpid $g2pid $hpid $dpid; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/test-daemon.sh"
start_daemon() {
	vsw_start_daemon --config "$tmp/vswitchd.json" \
		--file-prefix vswho$$ --mac-table 4096 --mbufs 4095 --conntrack 1024
}
start_daemon
ctl add-switch br0 || fail "add-switch"
ctl add-port br0 nul --type null || fail "add null port"

# The peers serve their sockets; the switch connects to them.
"$peer" "$tmp/good.sock" good 60 >"$tmp/good.log" 2>&1 &
gpid=$!
"$peer" "$tmp/good2.sock" good 60 >"$tmp/good2.log" 2>&1 &
g2pid=$!
"$peer" "$tmp/hostile.sock" hostile 2 >"$tmp/hostile.log" 2>&1 &
hpid=$!
for _ in $(seq 100); do
	[ -S "$tmp/good.sock" ] && [ -S "$tmp/good2.sock" ] &&
		[ -S "$tmp/hostile.sock" ] && break
	sleep 0.05
done
ctl add-port br0 good --type vhostuser --path "$tmp/good.sock" || fail "add good"
ctl add-port br0 good2 --type vhostuser --path "$tmp/good2.sock" || fail "add good2"
ctl add-port br0 bad --type vhostuser --path "$tmp/hostile.sock" || fail "add bad"

echo "-- the hostile peer's scenarios"
wait "$hpid"
rc=$?
hpid=
cat "$tmp/hostile.log"
[ $rc = 0 ] || fail "the hostile peer's good frames were not all taken (exit $rc)"
kill -0 "$dpid" 2>/dev/null || fail "vswitchd died"

tx_of() { ctl stats "$1" --json | sed -n 's/.*"tx_packets":\([0-9]*\).*/\1/p' | head -1; }
rx_of() { ctl stats "$1" --json | sed -n 's/.*"rx_packets":\([0-9]*\).*/\1/p' | head -1; }
echo "-- the switch still forwards the good peer's frames"
a=$(tx_of nul)
sleep 1
b=$(tx_of nul)
[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt $((a + 100)) ] ||
	fail "null port tx $a -> $b: forwarding stalled"
echo "null port: $((b - a)) frames in 1 s"
[ "$(rx_of bad)" -ge 44 ] || fail "the hostile peer's good frames not counted: $(rx_of bad)"
ctl macs br0 | grep -q "02:76:68:00:00:02 bad" || fail "hostile peer's MAC not learned"
# The last scenario left the hostile peer's queue stuck for 2 s: counted
# and logged (the vhost library itself says nothing).
ctl stats bad --json | grep -q '"guest_tx_stalls":[1-9]' ||
	fail "stuck guest queue not counted: $(ctl stats bad --json)"
grep -q "bad: the guest's transmit queue is stuck" "$tmp/vswitchd.log" ||
	fail "stuck guest queue not logged"
echo "stuck guest queue counted: $(ctl stats bad --json | grep -o '"guest_tx_stalls":[0-9]*')"
ctl show --json | grep -q '"name":"bad"' || fail "show after the hostile peer"

echo "-- kill -9 the switch; restarted from its config, the VMs' frames flow again"
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
start_daemon
for _ in $(seq 100); do
	grep -q "frames back" "$tmp/good.log" && grep -q "frames back" "$tmp/good2.log" && break
	sleep 0.05
done
for g in good good2; do
	ms=$(sed -n 's/.*frames back \([0-9]*\) ms.*/\1/p' "$tmp/$g.log" | tail -1)
	[ -n "$ms" ] || fail "$g: no frames after the switch restarted"
	echo "$g: frames back $ms ms after the switch was killed (vswitchd: $(grep -o 'start-up .*' "$tmp/vswitchd.log" | tail -1))"
	[ "$ms" -lt 1000 ] || fail "$g: frames back after $ms ms (goal < 1000)"
done
echo "PASS"
