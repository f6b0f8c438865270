#!/bin/bash
# SPDX-License-Identifier: MIT
# The uplink's DHCP client against a real DHCP server: busybox udhcpd in
# an "outside" namespace behind a veth pair, the uplink an af_packet port
# on the other end. set-port --dhcp gets an address (the time to it is
# printed) after its ARP probes, and its ARP announcement reaches the
# outside; a lab VM (a namespace on a TAP port) reaches the outside
# through NAT on the learned address; the lease is renewed at T1 (20 s
# lease); after kill -9 the restarted daemon asks for the same address
# again (INIT-REBOOT, no DISCOVER); with the server gone the lease
# expires, the address goes and NAT stops (counted, logged); the server
# back with another pool, a new address comes and NAT uses it; --no-dhcp and del-port give it back (RELEASE,
# seen in the server's lease file); add-port --dhcp works as set-port;
# an address another host answers ARP for is declined (DHCPDECLINE, seen
# in the server's lease file) and, 10 s later, another one is bound.
#   vswitch-uplink-dhcp-test.sh BUILD-DIR
set -u
build=$(cd "${1:?usage: $0 BUILD-DIR}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; dump; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, TAP)"
for p in ip ethtool nc busybox python3; do
	command -v $p >/dev/null || skip "$p not installed"
done
busybox udhcpd --help >/dev/null 2>&1 || skip "busybox has no udhcpd"

id=$$
tmp=$(mktemp -d /tmp/vswudh.XXXXXX)
sock=$tmp/ctl.sock
conf=$tmp/vswitchd.json
prefix=vswud$id
nvm=vd$id-vm nout=vd$id-out
tap=vdt$id vup=vdu$id vout=vdo$id vsq=vds$id
dpid= spid=

ctl() { "$build/tools/vswitchctl" --socket "$sock" "$@"; }
dump() {
	ctl show >&2 2>/dev/null
	ctl stats up0 --json >&2 2>/dev/null
	tail -20 "$tmp/vswitchd.log" >&2 2>/dev/null
	tail -20 "$tmp/udhcpd.log" >&2 2>/dev/null
}
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$spid" ] && kill -9 "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	for n in $nvm $nout; do ip netns del "$n" 2>/dev/null; done
	ip link del "$vup" 2>/dev/null
	ip link del "$tap" 2>/dev/null
	rm -rf "/var/run/dpdk/$prefix" "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/test-daemon.sh"
start_daemon() {
	vsw_start_daemon --config "$conf" --file-prefix "$prefix" \
		--mac-table 4096 --mbufs 8191 --conntrack 4096
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# The uplink's DHCP client object, as stats --json shows it.
client() { ctl stats up0 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
p = d["ports"][0] if "ports" in d else d
print(json.dumps(p.get("dhcp_client", {})))'; }
field() { # FIELD -> value from the client object ("" if absent)
	client | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"
}
wait_for() { # SECONDS DESCRIPTION COMMAND...: polls every 50 ms
	local end=$(( $(now_ms) + $1 * 1000 )) what=$2 secs=$1
	shift 2
	while [ "$(now_ms)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	fail "$what (after $secs s)"
}
has_address() { [ -n "$(field address)" ]; }
no_address() { [ -z "$(field address)" ]; }

start_server() {
	# -a: the server's ARP probe of an address before offering it.
	ip netns exec "$nout" busybox udhcpd -f -a 100 "$tmp/udhcpd.conf" \
		>>"$tmp/udhcpd.log" 2>&1 &
	spid=$!
}
stop_server() {
	kill "$spid" 2>/dev/null # SIGTERM: udhcpd writes its lease file
	wait "$spid" 2>/dev/null
	spid=
}

for n in $nvm $nout; do
	ip netns add "$n" || skip "cannot create network namespaces"
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip link add "$vup" type veth peer name "$vout" || fail "veth"
ip link set "$vout" netns "$nout"
sysctl -qw "net.ipv6.conf.$vup.disable_ipv6=1"
ethtool -K "$vup" tx off tso off gso off gro off >/dev/null 2>&1
ip netns exec "$nout" ethtool -K "$vout" tx off tso off gso off gro off >/dev/null 2>&1
ip link set "$vup" up
ip -n "$nout" addr add 198.51.100.1/24 dev "$vout"
ip -n "$nout" link set "$vout" up
# The outside learns from gratuitous ARP: the client's announcement shows.
ip netns exec "$nout" sysctl -qw "net.ipv4.conf.$vout.arp_accept=1"
cat >"$tmp/udhcpd.conf" <<EOF
start 198.51.100.100
end 198.51.100.110
interface $vout
lease_file $tmp/udhcpd.leases
pidfile $tmp/udhcpd.pid
min_lease 20
auto_time 1
option subnet 255.255.255.0
option router 198.51.100.1
option lease 20
EOF
touch "$tmp/udhcpd.leases"
start_server

start_daemon
ctl add-switch br0 || fail "add-switch"
ctl add-port br0 up0 --type afpacket --iface "$vup" || fail "add uplink"

echo "-- bad input"
ctl set-port up0 --dhcp --address 198.51.100.9/24 2>"$tmp/err"
[ $? = 2 ] && grep -q "come from the DHCP server" "$tmp/err" || fail "--dhcp with --address: $(cat "$tmp/err")"
ctl set-port up0 --dhcp --no-dhcp 2>"$tmp/err"
[ $? = 2 ] || fail "--dhcp with --no-dhcp accepted"

echo "-- set-port --dhcp: an address from udhcpd"
t0=$(now_ms)
ctl set-port up0 --dhcp || fail "set-port --dhcp"
wait_for 10 "no lease" has_address
t1=$(now_ms)
addr=$(field address)
case $addr in 198.51.100.1[01][0-9]/24) ;; *) fail "address '$addr'" ;; esac
[ "$(field gateway)" = 198.51.100.1 ] || fail "gateway $(field gateway)"
[ "$(field server)" = 198.51.100.1 ] || fail "server $(field server)"
[ "$(field lease_s)" = 20 ] || fail "lease $(field lease_s)"
echo "address $addr $(( t1 - t0 )) ms after set-port --dhcp (daemon: $(field first_address_ms) ms, udhcpd probes 100 ms)"
ctl show | grep -q "DHCP bound $addr via 198.51.100.1 from 198.51.100.1" ||
	fail "show: $(ctl show)"
ip=${addr%/*}
# Checked with ARP first (2 probes, 200 ms apart, nobody answered), then
# announced: the outside has the uplink's MAC for it before any traffic.
[ "$(field arp_probes)" = 2 ] && [ "$(field arp_announcements)" = 1 ] &&
	[ "$(field declines)" = 0 ] || fail "ARP check: $(client)"
[ "$(field first_address_ms)" -ge 400 ] || fail "bound before the ARP check was over: $(client)"
upmac=$(ip -o link show "$vup" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
announced() { ip -n "$nout" neigh show "$ip" dev "$vout" | grep -q "lladdr $upmac"; }
wait_for 2 "the outside did not learn $ip from the announcement: $(ip -n "$nout" neigh)" announced
ip netns exec "$nout" ping -c 1 -W 1 "$ip" >/dev/null || fail "the uplink does not answer ping on $ip"

echo "-- a lab VM reaches the outside through NAT on the learned address"
ctl add-network br0 lab --subnet 192.168.77.0/24 --nat up0 || fail "add-network"
ctl add-port br0 vm --type tap --iface "$tap" || fail "add vm port"
ip link set "$tap" netns "$nvm"
ip netns exec "$nvm" ethtool -K "$tap" tx off tso off gso off gro off >/dev/null 2>&1
ip -n "$nvm" addr add 192.168.77.10/24 dev "$tap"
ip -n "$nvm" link set "$tap" up
ip -n "$nvm" route add default via 192.168.77.2
nat_udp() { # -> the source address the outside saw
	rm -f "$tmp/udp.err"
	ip netns exec "$nout" timeout 3 nc -n -u -v -l -p 5002 >"$tmp/udp.out" 2>"$tmp/udp.err" &
	local ncpid=$!
	sleep 0.3
	echo "udp over nat" | ip netns exec "$nvm" timeout 2 nc -u -w 1 198.51.100.1 5002
	wait $ncpid
	grep -q "udp over nat" "$tmp/udp.out" || return 1
	grep -o "from [0-9.]*\|on [0-9.]*" "$tmp/udp.err" | head -1
}
ip netns exec "$nvm" ping -c 1 -W 2 198.51.100.1 >/dev/null || fail "ping through NAT"
nat_udp >"$tmp/src" || fail "UDP through NAT lost"
grep -q "$ip" "$tmp/src" "$tmp/udp.err" || fail "the outside saw $(cat "$tmp/udp.err"), not $ip"

echo "-- renewal at T1 (10 s)"
renewed() { [ "$(field renewals)" -ge 1 ]; }
wait_for 14 "no renewal" renewed
[ "$(field address)" = "$addr" ] || fail "renewal changed the address"
[ "$(field state)" = bound ] || fail "state $(field state) after renewal"

echo "-- kill -9 and restart: the same address again (INIT-REBOOT)"
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
test -s "$conf.up0.dhcp-lease" || fail "no saved lease"
start_daemon
wait_for 10 "no lease after restart" has_address
[ "$(field address)" = "$addr" ] || fail "restart: $(field address), not $addr"
[ "$(field reboots)" = 1 ] || fail "not by INIT-REBOOT: $(client)"
[ "$(field discovers)" = 0 ] || fail "DISCOVER after restart: $(client)"
ip netns exec "$nvm" ping -c 1 -W 2 198.51.100.1 >/dev/null || fail "NAT after restart"

echo "-- the server gone: the lease expires, the address goes, NAT stops"
ctl conntrack lab --json | grep -q '"proto"' || fail "no connection tracked"
stop_server
wait_for 25 "the lease did not expire" no_address
[ "$(field expiries)" = 1 ] || fail "expiry not counted: $(client)"
grep -q "up0: no DHCP lease: the port has no address; NAT stops for lab" "$tmp/vswitchd.log" ||
	fail "no log line for the lost lease"
ctl networks lab --json | grep -q '"nat_status":"no address"' ||
	fail "network does not say its uplink has no address: $(ctl networks lab --json)"
ip netns exec "$nvm" ping -c 1 -W 1 198.51.100.1 >/dev/null 2>&1 && fail "NAT without an address"
ctl networks lab --json | grep -q '"no_route":[1-9]' || fail "NAT drops not counted"
ctl conntrack lab --json | grep -q '"proto"' &&
	fail "connections of the old address kept: $(ctl conntrack lab --json)"

echo "-- the server back with another pool: a new address, NAT follows it"
sed -i 's/^start .*/start 198.51.100.120/; s/^end .*/end 198.51.100.125/' "$tmp/udhcpd.conf"
: >"$tmp/udhcpd.leases"
start_server
wait_for 12 "no new lease" has_address
addr2=$(field address)
case $addr2 in 198.51.100.12[0-5]/24) ;; *) fail "new address '$addr2'" ;; esac
ip=${addr2%/*}
ip netns exec "$nvm" ping -c 1 -W 2 198.51.100.1 >/dev/null || fail "NAT with the new lease"
nat_udp >/dev/null || fail "UDP through NAT lost with the new lease"
grep -q "$ip" "$tmp/udp.err" || fail "the outside saw $(cat "$tmp/udp.err"), not the new $ip"

echo "-- --no-dhcp and del-port release the lease"
lease_held() { # IP: udhcpd's lease file lists it as not expired
	kill -USR1 "$spid" 2>/dev/null
	sleep 0.2
	busybox dumpleases -f "$tmp/udhcpd.leases" 2>/dev/null | grep " $1 " | grep -vq expired
}
ip=$(field address); ip=${ip%/*}
lease_held "$ip" || fail "udhcpd does not list $ip: $(busybox dumpleases -f "$tmp/udhcpd.leases")"
ctl set-port up0 --no-dhcp || fail "--no-dhcp"
lease_gone() { ! lease_held "$1"; }
wait_for 3 "no RELEASE after --no-dhcp" lease_gone "$ip"
ctl show --json | grep -q '"dhcp_client"' && fail "the client stayed"
test -e "$conf.up0.dhcp-lease" && fail "the saved lease stayed"
# add-port --dhcp: the same, from the start.
ctl del-port up0 || fail "del-port without a lease"
ctl add-port br0 up0 --type afpacket --iface "$vup" --dhcp || fail "add-port --dhcp"
wait_for 10 "no lease after add-port --dhcp" has_address
ip=$(field address); ip=${ip%/*}
lease_held "$ip" || fail "udhcpd does not list the second lease $ip"
ctl del-port up0 || fail "del-port"
wait_for 3 "no RELEASE after del-port" lease_gone "$ip"

echo "-- an address another host uses: ARP probe, DHCPDECLINE, another address"
# udhcpd offers a known client the address it last had ($ip, released
# above) without checking it; now the outside namespace holds it too, on
# a second veth pair of its own: its kernel answers ARP for it on the
# uplink's veth (any local address, arp_ignore 0), while udhcpd's own ARP
# check, sent out of that veth, never reaches it.
ip netns exec "$nout" sysctl -qw net.ipv4.conf.all.arp_ignore=0 \
	"net.ipv4.conf.$vout.arp_ignore=0"
ip -n "$nout" link add "$vsq" type veth peer name "${vsq}p" || fail "second veth"
ip -n "$nout" addr add "$ip/32" dev "$vsq"
ip -n "$nout" link set "${vsq}p" up
ip -n "$nout" link set "$vsq" up
squatter=$(ip -n "$nout" -o link show "$vout" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
t0=$(now_ms)
ctl add-port br0 up0 --type afpacket --iface "$vup" --dhcp || fail "add-port --dhcp"
declined() { [ "$(field declines)" = 1 ]; }
wait_for 5 "$ip not declined" declined
[ "$(field last_declined)" = "$ip" ] || fail "declined $(field last_declined), not $ip"
[ "$(field last_declined_by)" = "$squatter" ] ||
	fail "declined for $(field last_declined_by), not $squatter"
no_address || fail "the address in use was applied: $(client)"
grep -q "up0: $ip is in use by $squatter (ARP); DHCPDECLINE sent, DISCOVER again in 10 s" \
	"$tmp/vswitchd.log" || fail "no log line for the declined address"
# udhcpd took the DECLINE: the address is kept from everybody (no MAC).
held_by_nobody() {
	kill -USR1 "$spid" 2>/dev/null
	sleep 0.2
	busybox dumpleases -f "$tmp/udhcpd.leases" | grep " $1 " |
		grep -q "00:00:00:00:00:00"
}
wait_for 3 "udhcpd did not take the DECLINE of $ip" held_by_nobody "$ip"
[ "$(field discovers)" = 1 ] || fail "DISCOVER at once after the DECLINE: $(client)"
wait_for 13 "no address after the DECLINE" has_address
t2=$(now_ms)
addr3=$(field address)
[ "${addr3%/*}" != "$ip" ] || fail "the declined $ip bound"
case $addr3 in 198.51.100.12[0-5]/24) ;; *) fail "address after DECLINE '$addr3'" ;; esac
[ "$(field state)" = bound ] || fail "state $(field state)"
[ "$(field arp_announcements)" = 1 ] || fail "no ARP announcement: $(client)"
[ "$(( $(field arp_probes) ))" -ge 3 ] || fail "probes: $(client)"
[ "$(field discovers)" = 2 ] || fail "discovers: $(client)"
# The DECLINE came after t0 and DISCOVER waits 10 s after it.
[ $(( t2 - t0 )) -ge 10000 ] || fail "a new address $(( t2 - t0 )) ms after add-port (< 10 s)"
echo "declined $ip (held by $squatter), then $addr3: $(( t2 - t0 )) ms from add-port"
ctl del-port up0 || fail "del-port"
echo "PASS"
