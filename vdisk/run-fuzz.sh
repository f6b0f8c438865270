#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a libFuzzer target briefly over its committed seed corpus; new
# inputs go to a temporary folder, never into the repository.
#   run-fuzz.sh FUZZER SEED-DIR SECONDS [MAX-LEN]
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$1" "$work" "$2" -max_total_time="$3" -max_len="${4:-65536}" -timeout=10 -error_exitcode=1 \
	-rss_limit_mb=2048 -print_final_stats=1
