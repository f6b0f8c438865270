#!/bin/bash
# SPDX-License-Identifier: MIT
# Port groups on the real daemon: a group's policy (VLAN, MAC limit,
# shaping) reaches the ports that join it, a member cannot override it,
# set-group moves every member at once, a group with members cannot go,
# and groups and memberships survive kill -9 through the saved config.
#   vswitch-groups-test.sh BUILD-DIR
set -u
build=$(cd "${1:?usage: $0 BUILD-DIR}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; tail -5 "$tmp/vswitchd.log" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root"

tmp=$(mktemp -d /tmp/vswgrp.XXXXXX)
sock=$tmp/ctl.sock
dpid=
ctl() { "$build/tools/vswitchctl" --socket "$sock" "$@"; }
cleanup() {
	[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/test-daemon.sh"
start_daemon() {
	vsw_start_daemon --config "$tmp/vswitchd.json" \
		--file-prefix vswgr$$ --mac-table 4096 --mbufs 4095 --conntrack 1024
}
port_json() { ctl show --json | grep -o '{"name":"'"$1"'"[^{}]*\({[^{}]*}[^{}]*\)*}'; }

start_daemon
ctl add-switch br0 || fail "add-switch"
ctl add-switch br1 || fail "add-switch br1"
ctl add-group br0 web --vlan 10 --mac-limit 50 --shape-out avg=10M || fail "add-group"
ctl add-group br0 web 2>/dev/null && fail "duplicate group accepted"
ctl add-group br0 bad --mtu 20 2>"$tmp/err"; [ $? = 1 ] && grep -q "'mtu' must be 68" "$tmp/err" ||
	fail "bad MTU: $(cat "$tmp/err")"
ctl add-group br0 bad --shape-out avg=1 2>/dev/null; [ $? = 2 ] || fail "absurd shaping accepted"
ctl add-group nosw g 2>"$tmp/err"; [ $? = 1 ] && grep -q "no switch 'nosw'" "$tmp/err" ||
	fail "group on a missing switch: $(cat "$tmp/err")"

echo "-- members take the group's policy"
ctl add-port br0 p1 --type null --group web || fail "add-port --group"
ctl add-port br0 p2 --type null || fail "add p2"
ctl set-port p2 --group web || fail "set-port --group"
for p in p1 p2; do
	port_json $p | grep -q '"vlan_mode":"access","vlan":10,"mac_limit":50' ||
		fail "$p lacks the group's VLAN: $(port_json $p)"
	port_json $p | grep -q '"shape_out":{[^}]*10000000' ||
		fail "$p lacks the group's shaping: $(port_json $p)"
	port_json $p | grep -q '"group":"web"' || fail "$p not shown in web"
done
ctl add-port br1 p3 --type null --group web 2>"$tmp/err"; [ $? = 1 ] &&
	grep -q "belongs to switch 'br0'" "$tmp/err" || fail "group of another switch: $(cat "$tmp/err")"
ctl add-port br0 p4 --type null --group nosuch 2>"$tmp/err"; [ $? = 1 ] &&
	grep -q "no group 'nosuch'" "$tmp/err" || fail "unknown group: $(cat "$tmp/err")"
ctl set-port p1 --vlan 20 2>"$tmp/err"; [ $? = 1 ] && grep -q "follows group 'web'" "$tmp/err" ||
	fail "member override accepted: $(cat "$tmp/err")"

echo "-- set-group moves every member"
ctl set-group web --trunk 20,30 || fail "set-group"
for p in p1 p2; do
	port_json $p | grep -q '"vlan_mode":"trunk","trunks":"20,30"' ||
		fail "$p did not follow: $(port_json $p)"
done
ctl groups br0 | grep -q "ports: p1 p2" || fail "groups: $(ctl groups br0)"
ctl groups --json | grep -q '"name":"web","switch":"br0"' || fail "groups --json"
ctl del-group web 2>"$tmp/err"; [ $? = 1 ] && grep -q "has ports" "$tmp/err" ||
	fail "group with ports removed"

echo "-- kill -9 and restart: groups and members restored"
kill -9 "$dpid"
wait "$dpid" 2>/dev/null
dpid=
start_daemon
port_json p2 | grep -q '"vlan_mode":"trunk","trunks":"20,30".*"group":"web"' ||
	fail "p2 after restart: $(port_json p2)"
ctl set-group web --vlan 40 || fail "set-group after restart"
port_json p1 | grep -q '"vlan_mode":"access","vlan":40' || fail "p1 did not follow after restart"

echo "-- leaving keeps the settings; an empty group can go"
ctl set-port p1 --group none && ctl set-port p2 --group none || fail "leave"
port_json p1 | grep -q '"vlan":40' || fail "p1 lost its settings on leaving"
port_json p1 | grep -q '"group"' && fail "p1 still in a group"
ctl set-port p1 --vlan 50 || fail "set-port after leaving"
ctl del-group web || fail "del-group"
ctl groups --json | grep -q '"groups":\[\]' || fail "group left: $(ctl groups --json)"
grep -q '"web"' "$tmp/vswitchd.json" && fail "group still in the saved config"
echo "PASS"
