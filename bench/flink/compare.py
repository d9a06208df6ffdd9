#!/usr/bin/env python3
"""Runs Nexmark queries on Strom and on Flink SQL over the same JSON-lines events and checks
that both give the same results (as multisets of rows).

Usage: [PARALLELISM=P] bench/flink/compare.py EVENTS_DIR QUERY [QUERY ...]
(build strom-bench first: cargo build --release -p strom-bench). Both run at parallelism P
(default 1); a directory of P files in event-time order (the Flink anchor's layout) gives each
reader one file.

Rows are compared field by field after putting both systems' text forms in one shape: Flink
prints `+I[a, b]` and times as `2015-07-15T00:00:10.240`, Strom prints `(a,b)` and times as
milliseconds since the epoch; q1's euro prices are DECIMAL(23, 3) in Flink and thousandths in
Strom; Strom's q5 rows also name the window's end, which Flink's q5 leaves out.
"""
import collections
import datetime
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Queries whose results are updated as input comes (compared by their final rows per key).
UPDATING = {"q4"}
ROOT = os.path.dirname(os.path.dirname(HERE))
PARALLELISM = os.environ.get("PARALLELISM", "1")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
DECIMAL = re.compile(r"^-?\d+\.\d+$")
# Both systems' print sinks put `N> ` (the subtask) before each line at parallelism above 1.
SUBTASK = re.compile(r"^\d+> ")


def field(text):
    text = text.strip()
    if TIME.match(text):
        moment = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)
        return str(round(moment.timestamp() * 1000))
    if DECIMAL.match(text):
        whole, fraction = text.split(".")
        return str(int(whole + (fraction + "000")[:3]))
    return text


def strom_rows(query, events_dir):
    output = subprocess.run(
        [os.path.join(ROOT, "target/release/strom-bench"), "nexmark", "--query", query,
         "--parallelism", PARALLELISM, "--input", events_dir, "--print"],
        check=True, capture_output=True, text=True).stdout
    rows = []
    for line in output.splitlines():
        line = SUBTASK.sub("", line)
        if line.startswith("(") and line.endswith(")"):
            fields = [field(f) for f in line[1:-1].split(",")]
            if query == "q5":
                fields = fields[:2]
            rows.append(tuple(fields))
    return rows


def flink_rows(query, events_dir):
    output = subprocess.run(
        [os.path.join(HERE, "run.sh"), query, events_dir, PARALLELISM, "0", "print"],
        check=True, capture_output=True, text=True).stdout
    lines = [SUBTASK.sub("", line) for line in output.splitlines()]
    changes = [(line[:2], tuple(field(f) for f in line[3:-1].split(", ")))
               for line in lines if re.match(r"^[+-][IUD]\[", line)]
    # q6 runs on Flink's DataStream API, whose print sink writes tuples as `(a,b)`: inserts.
    changes += [("+I", tuple(field(f) for f in line[1:-1].split(",")))
                for line in lines if line.startswith("(") and line.endswith(")")]
    if query not in UPDATING:
        # The changelog applied as a multiset: inserts add rows, retractions take them away.
        rows = collections.Counter()
        for kind, row in changes:
            rows[row] += 1 if kind in ("+I", "+U") else -1
        return list(rows.elements())
    # An updating result: its final rows per key, the changelog applied.
    final = {}
    for kind, row in changes:
        if kind in ("+I", "+U"):
            final[row[0]] = row
        elif final.get(row[0]) == row:
            del final[row[0]]
    return list(final.values())


def final_rows(rows):
    """Strom's updating results: the last row per key (the first field)."""
    return list({row[0]: row for row in rows}.values())


def main():
    events_dir, queries = sys.argv[1], sys.argv[2:]
    failed = False
    for query in queries:
        rows = strom_rows(query, events_dir)
        strom = collections.Counter(final_rows(rows) if query in UPDATING else rows)
        flink = collections.Counter(flink_rows(query, events_dir))
        if strom == flink and strom:
            print(f"{query}: the same {sum(strom.values())} rows")
            continue
        failed = True
        only_strom = list((strom - flink).elements())[:5]
        only_flink = list((flink - strom).elements())[:5]
        print(f"{query}: DIFFERENT: {sum(strom.values())} rows from Strom, "
              f"{sum(flink.values())} from Flink; only Strom: {only_strom}; only Flink: {only_flink}")
    sys.exit(1 if failed else 0)


main()
