#!/usr/bin/env bash
# Runs a Nexmark query on Apache Flink SQL over JSON-lines event files (needs java and the
# apache-flink wheel; ../../../shared/anchors/flink/run.sh installs it).
# run.sh QUERY EVENTS_DIR PARALLELISM [EVENTS [print]]; prints one line, and the peak RSS of the
# JVM; with print, the query's results first (+I[...] lines; compare.py checks them against Strom's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$(python3 -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')
out=$(mktemp -d)
javac -nowarn -cp "$lib/*" -d "$out" "$here"/NexmarkSql.java
/usr/bin/time -f "flink peak_rss_mb=%M cpu_s=%U+%S" \
    java -Dlog4j.configurationFile="$here/../flink-semantics/log4j2.properties" -cp "$lib/*:$out" NexmarkSql "$@" 2>&1 \
    | grep -E '^flink|peak_rss|Exception|^([0-9]+> )?[+-][IUD]\[' | sed 's/peak_rss_mb=\([0-9]*\)/peak_rss_kb=\1/'
rm -rf "$out"
