# SPDX-License-Identifier: MIT
"""Helpers shared by the benchmark scripts: interleaved rounds, medians of
pairwise ratios, markdown tables. Every benchmark measures our figure and
its anchor alternately in the same run (BENCH-NOTES.md)."""
import os
import statistics
import subprocess
import sys
import time


def run(cmd, **kw):
    """Runs a command, returning stdout; raises with stderr on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def interleave(ours, anchor, rounds):
    """Calls ours() and anchor() alternately; returns (ours list, anchor list,
    pairwise ratios)."""
    a, b, r = [], [], []
    for i in range(rounds):
        # Alternate who goes first so drift hits both sides alike.
        if i % 2 == 0:
            x = ours()
            y = anchor()
        else:
            y = anchor()
            x = ours()
        a.append(x)
        b.append(y)
        r.append(x / y if y else float("nan"))
    return a, b, r


def median(v):
    return statistics.median(v) if v else float("nan")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def today():
    return time.strftime("%Y-%m-%d")


def load_note():
    """The 1-minute load average when the run started: a ratio measured on a
    busy 2-core machine says less than one measured on an idle one."""
    return f"1-minute load average at the start: {os.getloadavg()[0]:.1f}"
