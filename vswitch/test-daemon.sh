# SPDX-License-Identifier: MIT
# Sourced by the vswitch shell tests. vsw_start_daemon OPTIONS... starts
# vswitchd on "$sock" with OPTIONS, its log in "$tmp/vswitchd.log", sets
# dpid and returns once the daemon answers. The caller defines build,
# sock, tmp, ctl() and fail().

vsw_start_daemon() {
	"$build/tools/vswitchd" --socket "$sock" "$@" \
		>>"$tmp/vswitchd.log" 2>&1 &
	dpid=$!
	# A deadline, not a count of tries: start-up takes 0.3 s on an idle
	# machine, 2 s and more when other work polls at nice -20.
	local end=$(( $(date +%s) + 20 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ -S "$sock" ] && ctl show >/dev/null 2>&1 && return 0
		kill -0 "$dpid" 2>/dev/null || fail "vswitchd died at start"
		sleep 0.01
	done
	fail "vswitchd did not answer within 20 s"
}
