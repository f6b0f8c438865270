#!/bin/bash
# SPDX-License-Identifier: MIT
# Lab networks with real Linux hosts: two "VMs" (network namespaces on TAP
# ports) in two lab networks on one switch, and an "outside" namespace
# behind an af_packet uplink with an address. udhcpc gets leases from the
# switch; the VMs ping their gateway; TCP and UDP to the outside are
# masqueraded (the outside sees the uplink's address); a port forward
# reaches a service inside; the two networks cannot reach each other;
# iperf3 TCP through a shaped port gets the configured rate over a long
# run without bursting past burst + one frame (measured on the switch's
# own capture); leases survive a kill -9; bad input gets clear errors.
#   vswitch-labnet-test.sh BUILD-DIR
set -u
build=$(cd "${1:?usage: $0 BUILD-DIR}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; dump; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (namespaces, TAP)"
for p in ip ethtool nc udhcpc iperf3 python3; do
	command -v $p >/dev/null || skip "$p not installed"
done

id=$$
tmp=$(mktemp -d /tmp/vswlab.XXXXXX)
sock=$tmp/ctl.sock
conf=$tmp/vswitchd.json
prefix=vswlb$id
nv1=vt$id-vm1 nv2=vt$id-vm2 nout=vt$id-out
tap1=vlt${id}a tap2=vlt${id}b tap3=vlt${id}c
vup=vlu$id vout=vlo$id
dpid= upid=

ctl() { "$build/tools/vswitchctl" --socket "$sock" "$@"; }
dump() {
	ctl show >&2 2>/dev/null
	ctl networks >&2 2>/dev/null
	ctl stats >&2 2>/dev/null
	tail -20 "$tmp/vswitchd.log" >&2 2>/dev/null
}
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ -n "$upid" ] && kill -9 "$upid" 2>/dev/null && wait "$upid" 2>/dev/null
	for n in $nv1 $nv2 $nout; do ip netns del "$n" 2>/dev/null; done
	ip link del "$tap3" 2>/dev/null
	ip link del "$vup" 2>/dev/null
	ip link del "$tap1" 2>/dev/null
	ip link del "$tap2" 2>/dev/null
	rm -rf "/var/run/dpdk/$prefix" "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/test-daemon.sh"
start_daemon() {
	vsw_start_daemon --config "$conf" --file-prefix "$prefix" \
		--mac-table 65536 --mbufs 16383 --conntrack 16384
}

# Plain frames only: af_packet and TAP see what the interfaces carry.
no_offloads() { # NS IFACE
	ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off \
		>/dev/null 2>&1
}

vm_on_tap() { # NS TAP PORT [set-port options]
	local ns=$1 tap=$2 port=$3
	shift 3
	ctl add-port br0 "$port" --type tap --iface "$tap" "$@" || fail "add $port"
	ip link set "$tap" netns "$ns" || fail "move $tap"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	no_offloads "$ns" "$tap"
	ip -n "$ns" link set "$tap" up
}

cat >"$tmp/udhcpc.sh" <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	[ -n "$router" ] && ip route replace default via "$router" dev "$interface"
	echo "$ip $router $lease" >"$LEASE_FILE" ;;
esac
exit 0
EOF
chmod +x "$tmp/udhcpc.sh"

lease() { # NS TAP -> prints "IP ROUTER LEASE", and the time it took
	local t0 t1
	t0=$(date +%s%N)
	LEASE_FILE=$tmp/lease.$1 ip netns exec "$1" timeout 10 udhcpc -f -q -n \
		-t 5 -T 1 -i "$2" -s "$tmp/udhcpc.sh" -x hostname:"$1" \
		>"$tmp/udhcpc.$1" 2>&1 || fail "udhcpc in $1: $(cat "$tmp/udhcpc.$1")"
	t1=$(date +%s%N)
	echo "lease in $1: $(cat "$tmp/lease.$1") ($(( (t1 - t0) / 1000000 )) ms with udhcpc start-up)" >&2
	cut -d' ' -f1 "$tmp/lease.$1"
}

for n in $nv1 $nv2 $nout; do
	ip netns add "$n" || skip "cannot create network namespaces"
	ip -n "$n" link set lo up
done

start_daemon
ctl add-switch br0 || fail "add-switch"
# The outside: a veth pair, the uplink end an af_packet port with an address.
ip link add "$vup" type veth peer name "$vout" || fail "veth"
ip link set "$vout" netns "$nout"
sysctl -qw "net.ipv6.conf.$vup.disable_ipv6=1"
ip netns exec "$nout" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ethtool -K "$vup" tx off tso off gso off gro off >/dev/null 2>&1
no_offloads "$nout" "$vout"
ip link set "$vup" up
ip -n "$nout" addr add 198.51.100.1/24 dev "$vout"
ip -n "$nout" link set "$vout" up
ctl add-port br0 up0 --type afpacket --iface "$vup" || fail "add uplink"
ctl set-port up0 --address 198.51.100.2/24 || fail "uplink address"

echo "-- two lab networks; the VMs get leases from the switch"
ctl add-network br0 lab --subnet 192.168.50.0/24 --dhcp --nat up0 ||
	fail "add-network lab"
# vm2 has a static reservation (by its MAC, outside the pool).
ctl add-network br0 lab2 --vlan 20 --subnet 10.20.0.0/24 --dhcp 10.20.0.100-10.20.0.110 \
	--reserve 02:00:00:20:00:07=10.20.0.50 --nat up0 || fail "add-network lab2"
ctl add-network br0 bad --subnet 10.30.0.0/24 --dhcp --reserve 02:00:00:20:00:07 2>"$tmp/err"
[ $? = 1 ] && grep -q "'reserve' must be MAC=IP" "$tmp/err" || fail "bad reservation: $(cat "$tmp/err")"
vm_on_tap "$nv1" "$tap1" vm1
vm_on_tap "$nv2" "$tap2" vm2 --vlan 20
ip -n "$nv2" link set "$tap2" address 02:00:00:20:00:07
ip1=$(lease "$nv1" "$tap1")
ip2=$(lease "$nv2" "$tap2")
case $ip1 in 192.168.50.1[2-9][0-9]|192.168.50.2[0-5][0-9]) ;; *) fail "vm1 got '$ip1'" ;; esac
[ "$ip2" = 10.20.0.50 ] || fail "vm2 got '$ip2', not its reservation 10.20.0.50"
ctl networks lab2 --json | grep -q '"reserve":"02:00:00:20:00:07=10.20.0.50"' ||
	fail "reservation not listed"
ctl leases lab --json | grep -q "\"ip\":\"$ip1\".*\"state\":\"bound\".*\"hostname\":\"$nv1\"" ||
	fail "lease of vm1 not listed: $(ctl leases lab --json)"

echo "-- the gateway answers ping"
ip netns exec "$nv1" ping -c 1 -W 1 192.168.50.2 >/dev/null || fail "ping gateway"
ip netns exec "$nv2" ping -c 1 -W 1 10.20.0.2 >/dev/null || fail "ping gateway 2"

echo "-- TCP, UDP and ping to the outside are masqueraded"
ip netns exec "$nout" timeout 5 nc -n -v -l -p 5001 >"$tmp/tcp.out" 2>"$tmp/tcp.err" &
ncpid=$!
sleep 0.3
echo "hello over nat" | ip netns exec "$nv1" timeout 3 nc -N 198.51.100.1 5001 ||
	fail "TCP to the outside"
wait $ncpid
grep -q "hello over nat" "$tmp/tcp.out" || fail "TCP data lost"
grep -q "Connection received on 198.51.100.2 " "$tmp/tcp.err" ||
	fail "outside saw another source: $(cat "$tmp/tcp.err")"
ip netns exec "$nout" timeout 3 nc -n -u -v -l -p 5002 >"$tmp/udp.out" 2>"$tmp/udp.err" &
ncpid=$!
sleep 0.3
echo "udp over nat" | ip netns exec "$nv2" timeout 2 nc -u -w 1 198.51.100.1 5002
wait $ncpid
grep -q "udp over nat" "$tmp/udp.out" || fail "UDP data lost"
grep -q "198.51.100.2" "$tmp/udp.err" || fail "UDP source: $(cat "$tmp/udp.err")"
ip netns exec "$nv1" ping -c 1 -W 1 198.51.100.1 >/dev/null || fail "ping outside"
ctl conntrack lab --json | grep -q '"proto":"tcp"' || fail "no TCP connection tracked"

echo "-- a port forward reaches a service inside"
ctl add-forward lab tcp 8080 "$ip1:80" || fail "add-forward"
ip netns exec "$nv1" timeout 5 nc -n -v -l -p 80 >"$tmp/fwd.out" 2>"$tmp/fwd.err" &
ncpid=$!
sleep 0.3
echo "through the forward" | ip netns exec "$nout" timeout 3 nc -N 198.51.100.2 8080 ||
	fail "connect to the forward"
wait $ncpid
grep -q "through the forward" "$tmp/fwd.out" || fail "forwarded data lost"
grep -q "Connection received on 198.51.100.1 " "$tmp/fwd.err" ||
	fail "inside saw: $(cat "$tmp/fwd.err")"
# Nothing else of the inside is reachable from outside.
ip netns exec "$nout" timeout 2 nc -z -w 1 198.51.100.2 22 && fail "port 22 open"

echo "-- the two networks cannot reach each other"
ip netns exec "$nv1" ping -c 1 -W 1 "$ip2" >/dev/null 2>&1 && fail "vm1 reached vm2"
ip netns exec "$nv2" ping -c 1 -W 1 "$ip1" >/dev/null 2>&1 && fail "vm2 reached vm1"
ctl networks lab --json | grep -q '"isolation":[1-9]' || fail "isolation not counted"

echo "-- iperf3 TCP through a shaped port: 20 Mbit/s average, 64 KiB burst"
ctl set-port vm1 --shape-out avg=20M,burst=64K || fail "shape"
ctl set-port vm1 --shape-out avg=0 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "avg must be" "$tmp/err" || fail "absurd shape: rc $rc $(cat "$tmp/err")"
ip netns exec "$nout" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
ipid=$!
sleep 0.5
ctl capture vm1 "$tmp/shaped.pcapng" --snaplen 64 --duration 10 >/dev/null 2>&1 &
cpid=$!
sleep 0.3
ctl stats vm1 --json >"$tmp/shaper0.json" || fail "stats"
ip netns exec "$nv1" iperf3 -c 198.51.100.1 -p 5201 -R -t 8 -J >"$tmp/iperf.json" ||
	fail "iperf3: $(tail -5 "$tmp/iperf.json")"
ctl stats vm1 --json >"$tmp/shaper1.json" || fail "stats"
wait $ipid
kill -INT $cpid 2>/dev/null
wait $cpid
python3 - "$tmp/iperf.json" "$tmp/shaped.pcapng" 20000000 65536 \
	"$tmp/shaper0.json" "$tmp/shaper1.json" <<'EOF' || fail "shaping"
import json, struct, sys
res = json.load(open(sys.argv[1]))
def shaper(path):
    d = json.load(open(path))
    for p in (d.get("ports") or [d]):
        if "shaper_out" in p:
            return p["shaper_out"]
    sys.exit(f"no shaper_out in {path}")
s0, s1 = shaper(sys.argv[5]), shaper(sys.argv[6])
goodput = res["end"]["sum_received"]["bits_per_second"]
avg, burst = float(sys.argv[3]), float(sys.argv[4])
# pcapng: the switch's own capture, frames it sent to the VM (outbound).
data = open(sys.argv[2], "rb").read()
off, tsres, frames = 0, {}, []
while off + 12 <= len(data):
    btype, blen = struct.unpack_from("<II", data, off)
    if blen < 12 or off + blen > len(data):
        break
    if btype == 1:  # interface: default microseconds unless if_tsresol
        tsres[len(tsres)] = 1e-6
        o = off + 16
        while o + 4 <= off + blen - 4:
            code, ln = struct.unpack_from("<HH", data, o)
            if code == 0:
                break
            if code == 9:
                v = data[o + 4]
                tsres[len(tsres) - 1] = 2.0 ** -(v & 0x7f) if v & 0x80 else 10.0 ** -v
            o += 4 + (ln + 3) // 4 * 4
    elif btype == 6:
        ifid, th, tl, caplen, origlen = struct.unpack_from("<IIIII", data, off + 8)
        o = off + 28 + (caplen + 3) // 4 * 4
        out = False
        while o + 4 <= off + blen - 4:
            code, ln = struct.unpack_from("<HH", data, o)
            if code == 0:
                break
            if code == 2:
                out = (struct.unpack_from("<I", data, o + 4)[0] & 3) == 2
            o += 4 + (ln + 3) // 4 * 4
        if out:
            frames.append(((th << 32 | tl) * tsres.get(ifid, 1e-6), origlen))
    off += blen
frames.sort()
if len(frames) < 1000:
    sys.exit(f"only {len(frames)} frames captured")
# Average over the steady part: from 1 s after the first frame to the last.
t0 = frames[0][0] + 1.0
steady = [f for f in frames if f[0] >= t0]
span = steady[-1][0] - steady[0][0]
rate = sum(l for _, l in steady[1:]) * 8 / span
# Worst run-ahead: bytes over any span beyond avg * span.
worst, low, sent = 0.0, 0.0, 0.0
for t, l in frames:
    a = sent - avg / 8 * (t - frames[0][0])
    low = min(low, a)
    sent += l
    worst = max(worst, a + l - low)
gaps = sorted((b[0] - a[0], a[0] - frames[0][0]) for a, b in zip(frames, frames[1:]))[-3:]
print("   longest idle gaps (s, at):", " ".join(f"{g:.4f}@{t:.2f}" for g, t in gaps),
      "retransmits:", res["end"]["sum_sent"].get("retransmits"))
print(f"   iperf3 goodput {goodput / 1e6:.2f} Mbit/s; switch sent {rate / 1e6:.3f} "
      f"Mbit/s of frames over {span:.1f} s ({len(frames)} frames); "
      f"ran ahead of the average by at most {worst:.0f} B (burst {burst:.0f} + 1518)")
# The switch's own account over the run, against its clock: what it sent,
# and the tokens that went unused because nothing waited (TCP's sender,
# on a loaded machine, does not always keep the queue full). Every token
# is either sent, unused, or still in the bucket (burst + a frame).
span_s = (s1["at_ns"] - s0["at_ns"]) / 1e9
sent = s1["sent_bytes"] - s0["sent_bytes"]
idle = s1["unused_idle_bytes"] - s0["unused_idle_bytes"]
busy = s1["unused_busy_bytes"] - s0["unused_busy_bytes"]
due = avg / 8 * span_s
slack = burst + 1518
print(f"   switch account over {span_s:.2f} s: sent {sent} B "
      f"({sent * 8 / span_s / 1e6:.3f} Mbit/s), unused while idle {idle} B, "
      f"while frames waited {busy} B; the rate allows {due:.0f} B")
ok = True
if rate > avg * 1.02:
    print(f"   captured average {rate:.0f} over {avg:.0f} + 2 %"); ok = False
if sent > due * 1.02 + slack:
    print("   the switch sent more than the rate allows"); ok = False
# Tokens go unused while frames wait only when the data plane was away
# longer than the burst lasts (catching up more would break the burst
# bound): excused up to the stalls the capture shows, no more.
t_burst = burst / (avg / 8)
excused = sum(max(0.0, b[0] - a[0] - 0.9 * t_burst) * avg / 8
              for a, b in zip(frames, frames[1:]))
print(f"   output stalls longer than 90 % of the burst's {t_burst * 1e3:.1f} ms "
      f"excuse {excused:.0f} B")
if sent + idle + min(busy, excused) < due * 0.98 - slack:
    print("   the shaper held frames back while the rate allowed them"); ok = False
if sent < due * 0.5:
    print("   TCP did not keep the shaper busy half the time"); ok = False
if worst > burst + 1518:
    print("   burst exceeded"); ok = False
# Queueing, not policing: TCP's goodput is what the switch sent, less
# headers, not eaten by retransmissions.
if goodput < 0.9 * sent * 8 / span_s * 1448 / 1514:
    print("   TCP goodput below 90 % of what the switch sent"); ok = False
sys.exit(0 if ok else 1)
EOF
ctl set-port vm1 --shape-out off || fail "unshape"

echo "-- bad input gets one clear line"
ctl add-network br0 bad --subnet 10.1.2.3/24 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "host bits" "$tmp/err" ||
	fail "bad subnet: rc $rc $(cat "$tmp/err")"
ctl add-network br0 lab --subnet 10.9.0.0/24 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "exists" "$tmp/err" || fail "duplicate network: $(cat "$tmp/err")"
ctl add-forward lab sctp 1 1.2.3.4:5 2>/dev/null; [ $? = 2 ] || fail "bad proto not usage"
ctl add-forward lab tcp 8080 "$ip1:81" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "forwarded already" "$tmp/err" || fail "double forward: $(cat "$tmp/err")"
ctl leases nosuch 2>"$tmp/err"; [ $? = 1 ] && grep -q "no network" "$tmp/err" ||
	fail "unknown network: $(cat "$tmp/err")"

echo "-- leases survive kill -9, a TAP in an unnamed namespace is found again"
# A namespace only a process holds (a VM's own, made with unshare): no
# name under /run/netns leads to it.
unshare -n sleep 300 &
upid=$!
sleep 0.2
in_u() { nsenter -t "$upid" -n "$@"; }
umac_of() { in_u ip -o link show "$tap3" | sed -n 's|.*link/ether \([0-9a-f:]*\).*|\1|p'; }
ctl add-port br0 vmu --type tap --iface "$tap3" || fail "add vmu"
ip link set "$tap3" netns "$upid" || fail "move $tap3 to pid $upid"
in_u ip link set lo up
in_u ip link set "$tap3" up
in_u ip addr add 192.168.50.60/24 dev "$tap3"
in_u ping -c 1 -W 2 192.168.50.2 >/dev/null || fail "vmu cannot ping the gateway"
umac=$(umac_of)
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
ok=
for _ in $(seq 50); do
	in_u ping -c 1 -W 0.2 192.168.50.2 >/dev/null 2>&1 && { ok=1; break; }
done
[ -n "$ok" ] || fail "vmu (unnamed namespace) lost after restart: $(ctl show)"
ip link show "$tap3" >/dev/null 2>&1 && fail "a second $tap3 was made in the switch's namespace"
[ -n "$umac" ] && [ "$(umac_of)" = "$umac" ] || fail "vmu's MAC changed: $umac $(umac_of)"
ctl leases lab --json | grep -q "\"ip\":\"$ip1\"" || fail "lease lost: $(ctl leases lab --json)"
ctl networks lab --json | grep -q '"forwards":\[{"proto":"tcp","outside_port":8080' ||
	fail "forward not restored"
ctl del-port vmu || fail "del-port vmu"
echo "PASS"
