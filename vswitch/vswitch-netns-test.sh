#!/bin/bash
# SPDX-License-Identifier: MIT
# vswitchd with real Linux hosts: network namespaces attached through a TAP
# port (moved into its namespace) and af_packet ports on veth pairs. Ping
# and TCP across the switch, access VLAN isolation, trunks and native
# VLANs, MAC moves, aging, a MAC flood against the port limit, oversize
# frames, capture, telemetry, bad control requests, and kill -9 + restart
# with the persisted config (traffic back in < 1 s).
#   vswitch-netns-test.sh BUILD-DIR
set -u
build=$(cd "${1:?usage: $0 BUILD-DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; dump; [ -n "${VSW_TEST_PAUSE:-}" ] && sleep 600; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, TAP)"
for p in ip ethtool nc python3 ss; do
	command -v $p >/dev/null || skip "$p not installed"
done

id=$$
tmp=$(mktemp -d /tmp/vswnetns.XXXXXX)
sock=$tmp/ctl.sock
conf=$tmp/vswitchd.json
prefix=vswnt$id
ns1=vt$id-h1 ns2=vt$id-h2 ns3=vt$id-h3
tap=vst${id}a
va2=vsa${id}b vb2=vsb${id}b va3=vsa${id}c vb3=vsb${id}c va4=vsa${id}d vb4=vsb${id}d
dpid=

ctl() { "$build/tools/vswitchctl" --socket "$sock" "$@"; }
dump() {
	ctl show >&2 2>/dev/null
	ctl stats >&2 2>/dev/null
	tail -20 "$tmp/vswitchd.log" >&2 2>/dev/null
	cp "$tmp/vswitchd.log" /tmp/vswnetns-last.log 2>/dev/null
}
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	for n in $ns1 $ns2 $ns3; do ip netns del "$n" 2>/dev/null; done
	ip link del "$va2" 2>/dev/null
	ip link del "$va3" 2>/dev/null
	ip link del "$va4" 2>/dev/null
	ip link del "$tap" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/test-daemon.sh"
start_daemon() {
	vsw_start_daemon --config "$conf" --file-prefix "$prefix" \
		--mac-table 65536 --mbufs 8191
}

host_setup() { # NS IFACE ADDR
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" link set "$2" up
	# Full-size frames only: af_packet sees what the veth carries.
	ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off \
		>/dev/null 2>&1
}

veth_host() { # NS OUTSIDE INSIDE ADDR
	ip link add "$2" type veth peer name "$3" || fail "veth"
	ip link set "$3" netns "$1"
	sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
	ip link set "$2" up
	host_setup "$1" "$3" "$4"
}

can_ping() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
# Where a reply is expected: a single ping (ARP first) can miss its second
# on this loaded machine; three tries. (Isolation checks keep one try.)
reaches() { can_ping "$@" || can_ping "$@" || can_ping "$@"; }
# Frames cross the switch asynchronously (the sender's kernel, the data
# plane's next poll, the receiver's softirq): on a loaded machine, with
# other work polling at nice -20, that takes from microseconds to a
# second. Effects are awaited, not assumed after a fixed sleep.
#   wait_for SECONDS COMMAND...: 0 as soon as COMMAND succeeds
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 ))
	shift
	while ! "$@"; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.02
	done
}

for n in $ns1 $ns2 $ns3; do
	ip netns add "$n" || skip "cannot create network namespaces"
	ip -n "$n" link set lo up
done

start_daemon
ctl add-switch br0 || fail "add-switch"
# Host 1: a TAP port, its interface moved into the namespace.
ctl add-port br0 tap1 --type tap --iface "$tap" || fail "add TAP port"
ip link set "$tap" netns "$ns1" || fail "move TAP"
host_setup "$ns1" "$tap" 10.199.0.1
# Hosts 2 and 3: af_packet ports on veth pairs.
veth_host "$ns2" "$va2" "$vb2" 10.199.0.2
veth_host "$ns3" "$va3" "$vb3" 10.199.0.3
# DPDK's af_packet PMD puts its socket in fanout group (pid ^ ifindex) &
# 0xffff of the namespace; another DPDK process's group of that number on
# another interface refuses it (EINVAL), as happened once with a second
# vswitchd from a concurrent test. A new veth has a new index: one retry.
add_af() { # PORT NS OUTSIDE INSIDE ADDR
	ctl add-port br0 "$1" --type afpacket --iface "$3" && return 0
	tail -5 "$tmp/vswitchd.log" | grep -q "PACKET_FANOUT" || return 1
	ip link del "$3"
	veth_host "$2" "$3" "$4" "$5"
	ctl add-port br0 "$1" --type afpacket --iface "$3"
}
add_af af2 "$ns2" "$va2" "$vb2" 10.199.0.2 || fail "add af_packet"
add_af af3 "$ns3" "$va3" "$vb3" 10.199.0.3 || fail "add af_packet"

echo "-- ping and TCP across the switch"
reaches "$ns1" 10.199.0.2 || fail "ping TAP host -> af_packet host"
reaches "$ns2" 10.199.0.3 || fail "ping af_packet -> af_packet"
head -c 2000000 /dev/urandom >"$tmp/data"
ip netns exec "$ns2" timeout 20 nc -d -l -p 5001 >"$tmp/recv" &
ncpid=$!
listening() { ip netns exec "$ns2" ss -ltnH 'sport = :5001' | grep -q LISTEN; }
wait_for 10 listening || fail "nc did not listen"
ip netns exec "$ns1" nc -N -w 5 10.199.0.2 5001 <"$tmp/data" || fail "nc send"
wait $ncpid
cmp -s "$tmp/data" "$tmp/recv" || fail "TCP data differs"
ctl macs br0 --json | grep -q '"port":"tap1"' || fail "MAC of host 1 not learned"

echo "-- access VLANs isolate"
ctl set-port tap1 --vlan 10 && ctl set-port af2 --vlan 10 && ctl set-port af3 --vlan 20 ||
	fail "set-port"
reaches "$ns1" 10.199.0.2 || fail "same access VLAN"
can_ping "$ns1" 10.199.0.3 && fail "different access VLANs reach each other"

echo "-- a trunk carries both, tagged"
# (This kernel may lack 802.1Q interfaces: host 3 speaks tagged frames
# through a raw socket and watches with tcpdump.)
ctl set-port af3 --trunk 10,20 || fail "set trunk"
ctl set-port af2 --vlan 20 || fail "set-port"
ip -n "$ns2" addr flush dev "$vb2"
ip -n "$ns2" addr add 10.199.20.2/24 dev "$vb2"
if command -v tcpdump >/dev/null; then
	ip netns exec "$ns3" timeout 30 tcpdump -l -n -e -i "$vb3" \
		'vlan and arp' >"$tmp/trunk.txt" 2>"$tmp/trunk.err" &
	tdpid=$!
	# Send only once the capture is attached to the interface.
	wait_for 10 grep -q "listening on" "$tmp/trunk.err" ||
		fail "tcpdump did not start: $(cat "$tmp/trunk.err")"
	# VLAN 10 (host 1) asks for an unknown address: flooded to the trunk.
	ip netns exec "$ns1" ping -c 1 -W 1 10.199.0.99 >/dev/null 2>&1
	# A tagged VLAN 20 ARP request from the trunk reaches host 2 untagged.
	ip netns exec "$ns3" python3 - "$vb3" <<'EOF2' || fail "tagged sender"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
mac = bytes.fromhex('020000000303')
arp = (bytes.fromhex('0001080006040001') + mac + bytes([10, 199, 20, 3]) +
       bytes(6) + bytes([10, 199, 20, 2]))
import time
for _ in range(3):
    s.send(b'\xff' * 6 + mac + b'\x81\x00\x00\x14\x08\x06' + arp + bytes(18))
    time.sleep(0.2)
EOF2
	# Host 2 answers the request and keeps the sender as a neighbour.
	neigh_20() { ip -n "$ns2" neigh show 10.199.20.3 | grep -q 02:00:00:00:03:03; }
	t_sent=$(date +%s%N)
	wait_for 10 neigh_20 ||
		fail "tagged VLAN 20 request did not reach the access host"
	ms=$(( ($(date +%s%N) - t_sent) / 1000000 ))
	[ "$ms" -lt 100 ] || echo "(tagged request reached host 2 ${ms} ms after sending)"
	wait_for 10 grep -q "vlan 10,.*Request who-has 10.199.0.99" "$tmp/trunk.txt" ||
		fail "VLAN 10 not on the trunk: $(cat "$tmp/trunk.txt")"
	kill "$tdpid" 2>/dev/null
	wait "$tdpid" 2>/dev/null
fi
can_ping "$ns2" 10.199.0.1 && fail "VLAN 20 reached VLAN 10"

echo "-- native VLAN (untagged) on a trunk"
ctl set-port af3 --vlan 10 --trunk 20 --vlan-mode native-untagged || fail "native"
reaches "$ns1" 10.199.0.3 || fail "native untagged VLAN 10"
can_ping "$ns2" 10.199.0.3 && fail "VLAN 20 host reached the native VLAN"

echo "-- MAC move"
ctl set-port af2 --vlan 10 && ip -n "$ns2" addr flush dev "$vb2"
ip -n "$ns2" addr add 10.199.0.2/24 dev "$vb2"
mac_of() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
mac1=$(mac_of "$ns1" "$tap")
mac2=$(mac_of "$ns2" "$vb2")
reaches "$ns1" 10.199.0.2 || fail "ping before move"
ctl macs br0 --json | grep -q "\"mac\":\"$mac1\",\"port\":\"tap1\"" ||
	fail "host 1 MAC not on tap1"
moved0=$(ctl stats --json | sed -n 's/.*"moved":\([0-9]*\).*/\1/p')
# Host 2 now sends from host 1's MAC: the entry follows it to af2.
# Host 1 leaves first: its kernel would otherwise send from the same MAC
# whenever it likes (an ARP probe of its stale entry for host 2 comes
# ~5 s after the ping above) and move the entry back.
ip -n "$ns1" link set "$tap" down
ip -n "$ns2" link set "$vb2" address "$mac1"
ip netns exec "$ns2" ping -c 1 -W 1 10.199.0.3 >/dev/null 2>&1
moved_to_af2() { ctl macs br0 --json | grep -q "\"mac\":\"$mac1\",\"port\":\"af2\""; }
wait_for 5 moved_to_af2 || fail "MAC did not move to af2"
moved1=$(ctl stats --json | sed -n 's/.*"moved":\([0-9]*\).*/\1/p')
[ "$moved1" -gt "$moved0" ] || fail "move not counted"
ip -n "$ns2" link set "$vb2" address "$mac2"
ip -n "$ns1" link set "$tap" up
# Host 1 heard host 2's address from its own MAC meanwhile: forget that.
for n in $ns1 $ns2 $ns3; do ip -n "$n" neigh flush all; done

echo "-- aging"
ctl set-switch br0 --aging 1 || fail "set aging"
no_macs() { [ "$(ctl macs br0 --json | grep -c '"mac"')" = 0 ]; }
sleep 1
wait_for 10 no_macs || fail "MACs did not age out"
ctl stats --json | grep -q '"aged":0' && fail "aging not counted"
ctl set-switch br0 --aging 300

echo "-- MAC flood against the port limit; oversize frames"
ctl set-port af3 --vlan 10 --mac-limit 100 || fail "mac limit"
flood_macs() {
	ip netns exec "$ns3" python3 - "$vb3" <<'EOF' || fail "flood sender"
import socket, sys, struct
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
import time
for i in range(3000):
    src = struct.pack('!HI', 0x0200, 0x10000 + i)
    s.send(b'\xff' * 6 + src + b'\x08\x00' + bytes(46))
    if i % 50 == 49:
        time.sleep(0.002)  # stay within the af_packet ring
# A runt never reaches the wire on Linux; a jumbo frame does.
EOF
}
# At least as many sources refused as admitted. The kernel drops what
# overflows the port's af_packet ring while the data plane waits for a
# CPU (once: 521 of 3000 arrived), so the flood is sent again, up to
# five times, until that many were refused.
limited() { ctl stats af3 --json | grep -q '"learn_limit":[1-9][0-9][0-9][0-9]*,'; }
for _ in 1 2 3 4 5; do
	flood_macs
	wait_for 3 limited && break
done
limited || fail "limit not enforced: $(ctl stats af3 --json)"
ctl show --json | grep -q '"name":"af3","type":"afpacket".*"macs":100' ||
	fail "af3 holds other than 100 MACs"
# The port's MTU, not the wire's, decides what is too long.
ctl set-port af3 --mtu 1000 || fail "set mtu"
ip netns exec "$ns3" ping -c 1 -W 1 -s 1200 10.199.0.1 >/dev/null 2>&1
oversize() { ctl stats af3 --json | grep -q '"oversize":[1-9]'; }
wait_for 5 oversize || fail "oversize not counted"
ctl set-port af3 --vlan 10 --mac-limit 65536 --mtu 1500

echo "-- capture"
ip netns exec "$ns1" ping -i 0.05 -c 40 10.199.0.2 >/dev/null 2>&1 &
pingpid=$!
reaches "$ns1" 10.199.0.2 || fail "ping before capture"
ctl capture af2 "$tmp/af2.pcapng" --count 6 --duration 5 >"$tmp/cap.out" || fail "capture"
grep -q "^6 frames written" "$tmp/cap.out" || fail "capture: $(cat "$tmp/cap.out")"
if command -v tcpdump >/dev/null; then
	n=$(tcpdump -r "$tmp/af2.pcapng" 2>/dev/null | grep -c ICMP)
	[ "$n" = 6 ] || fail "pcapng holds $n ICMP frames, want 6"
fi
wait $pingpid

echo "-- telemetry"
if command -v dpdk-telemetry.py >/dev/null; then
	out=$(echo "/vswitch/port,af2" | dpdk-telemetry.py -f "$prefix" 2>&1)
	echo "$out" | grep -q '"rx_packets"' || fail "telemetry: $out"
fi

echo "-- bad control requests"
ctl add-port nosuch p9 --type null 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "no switch 'nosuch'" "$tmp/err" ||
	fail "unknown switch: rc $rc $(cat "$tmp/err")"
ctl add-port br0 p9 2>/dev/null; [ $? = 2 ] || fail "usage error not 2"
ctl set-port af2 --vlan 5000 2>/dev/null; [ $? = 2 ] || fail "bad VLAN not a usage error"
ctl add-port br0 p9 --type afpacket --iface nonexist0 2>"$tmp/err"; rc=$?
[ $rc = 1 ] || fail "missing interface accepted"
out=$(printf 'garbage\n{"cmd":1}\n{"cmd":"show"}\n' | nc -U -q 1 "$sock")
[ "$(echo "$out" | grep -c '"ok":false')" = 2 ] || fail "bad requests: $out"
echo "$out" | grep -q '"ok":true' || fail "good request after bad ones: $out"
python3 - "$sock" <<'EOF' || fail "long request not refused"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b'x' * 70000)
except OSError:
    pass  # the daemon stopped reading after its limit
reply = s.recv(4096)
sys.exit(0 if b'too long' in reply else 1)
EOF
reaches "$ns1" 10.199.0.2 || fail "switch broken after bad requests"

echo "-- kill -9 and restart with the saved config"
ctl set-port tap1 --vlan 10 >/dev/null
# A port whose interface is gone when the switch comes back.
ip link add "$va4" type veth peer name "$vb4" && ip link set "$va4" up ||
	fail "veth 4"
ctl add-port br0 af4 --type afpacket --iface "$va4" --vlan 30 || fail "add af4"
reaches "$ns1" 10.199.0.2 || fail "TAP host before restart"
tapmac=$(mac_of "$ns1" "$tap")
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
ip link del "$va4"
t0=$(date +%s%N)
start_daemon
ok=
for _ in $(seq 200); do
	if ip netns exec "$ns2" ping -c 1 -W 0.05 10.199.0.3 >/dev/null 2>&1; then
		ok=1
		break
	fi
done
t1=$(date +%s%N)
[ -n "$ok" ] || fail "no traffic after restart"
# The goal is the switch's own start-up: time its main thread sat ready
# to run while other work had the CPUs (schedstat: run-queue wait, ns)
# is this machine's load, not the switch's. tests/bench/bench-vswitch
# measures the restart figure itself, at nice -20.
# When even that wait is over a quarter of the time (pollers at nice -20
# elsewhere: every process at nice 0 crawls, the test's own pings too),
# the goal cannot be judged here: only the 10 s limit holds then.
waited() { echo $(( $(cut -d' ' -f2 "/proc/$dpid/task/$dpid/schedstat") / 1000000 )); }
restart_goal() { # WHAT MS WAITED
	[ "$2" -lt 10000 ] || fail "$1 back after $2 ms"
	[ $(($2 - $3)) -lt 1000 ] && return 0
	if [ $(($3 * 4)) -gt "$2" ]; then
		echo "($1: < 1 s goal not judged, the machine is too busy)"
		return 0
	fi
	fail "$1 back after $2 ms, $3 ms waiting for a CPU (goal < 1000)"
}
ms=$(( (t1 - t0) / 1000000 ))
w=$(waited)
echo "traffic back ${ms} ms after restart, ${w} ms of it waiting for a CPU (vswitchd: $(grep -o 'start-up .*' "$tmp/vswitchd.log" | tail -1))"
restart_goal traffic "$ms" "$w"
ctl show --json | grep -q '"name":"af3","type":"afpacket","iface":"'"$va3"'","vlan_mode":"access","vlan":10' ||
	fail "config not restored"
# The TAP interface outlived the switch in its namespace, address and MAC
# kept, and carries traffic again.
ok=
for _ in $(seq 200); do
	if ip netns exec "$ns1" ping -c 1 -W 0.05 10.199.0.2 >/dev/null 2>&1; then
		ok=1
		break
	fi
done
t2=$(date +%s%N)
[ -n "$ok" ] || fail "no traffic through the TAP port after restart"
ms=$(( (t2 - t0) / 1000000 ))
w=$(waited)
echo "TAP host back ${ms} ms after restart, ${w} ms of it waiting for a CPU"
[ "$(mac_of "$ns1" "$tap")" = "$tapmac" ] || fail "TAP MAC changed across restart"
restart_goal "TAP traffic" "$ms" "$w"
echo "-- a port missing at restore stays in the config"
ctl show --json | grep -q '"name":"af4","type":"afpacket","iface":"'"$va4"'","vlan_mode":"access","vlan":30[^}]*"link":"missing"' ||
	fail "af4 not shown missing: $(ctl show --json)"
ctl set-port af3 --vlan 10 || fail "set-port after restore"
grep -q '"name":"af4"' "$conf" || fail "af4 dropped from the saved config"
ip link add "$va4" type veth peer name "$vb4" && ip link set "$va4" up ||
	fail "veth 4 again"
ok=
for _ in $(seq 100); do
	ctl show --json | grep -q '"name":"af4"[^}]*"link":"\(up\|down\)"' && ok=1 && break
	sleep 0.1
done
[ -n "$ok" ] || fail "af4 did not come back with its interface"
ctl del-port af4 || fail "del-port af4"
echo "-- del-port takes the TAP interface with it"
ctl del-port tap1 || fail "del-port tap1"
ip -n "$ns1" link show "$tap" >/dev/null 2>&1 && fail "TAP interface left after del-port"
echo "PASS"
