#!/bin/sh
# SPDX-License-Identifier: MIT
# Instructions-per-packet regression check: counts the instructions of
# vsw_dp_poll() under callgrind (no timing noise) while vswitch-ipp
# switches 64-byte frames between two ring ports, and fails when a case
# exceeds its budget. Budgets sit ~15 % above the figures measured when
# they were set (82 and 107 instructions per frame: a burst's repeated
# frames take the fast path of datapath.c).
#   vswitch-ipp-check.sh VSWITCH-IPP-BINARY
set -u
ipp=${1:?usage: $0 VSWITCH-IPP-BINARY}
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: DPDK ports need root"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
for case in "plain 95" "vlan 124"; do
	set -- $case
	flag=
	[ "$1" = vlan ] && flag=--vlan
	valgrind --tool=callgrind --toggle-collect=vsw_dp_poll \
		--callgrind-out-file="$tmp/cg.out" "$ipp" 2000 $flag \
		>"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
	ir=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err")
	frames=$(sed -n 's/^frames \([0-9]*\)/\1/p' "$tmp/out")
	[ -n "$ir" ] && [ -n "$frames" ] && [ "$frames" -gt 0 ] ||
		{ echo "no count"; cat "$tmp/err"; exit 1; }
	per=$((ir / frames))
	echo "$1: $per instructions per frame (budget $2; $ir over $frames frames)"
	[ "$per" -le "$2" ] || { echo "FAIL: $1 over budget"; rc=1; }
done
exit $rc
