#!/usr/bin/env bash
# Runs a Nexmark query on Apache Flink SQL (q6: the DataStream API) over JSON-lines event files (needs java and the
# apache-flink wheel; ../../../shared/anchors/flink/run.sh installs it).
# run.sh QUERY EVENTS_DIR PARALLELISM [EVENTS [print]]; prints one line, and the peak RSS of the
# JVM; with print, the query's results first (+I[...] lines; compare.py checks them against Strom's).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$(python3 -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')
out=$(mktemp -d)
javac -nowarn -cp "$lib/*" -d "$out" "$here"/NexmarkSql.java "$here"/NexmarkQ6.java
# q6's SQL is unsupported in Flink (FLINK-19059); NexmarkQ6 writes it on the DataStream API.
class=NexmarkSql
[ "$1" = q6 ] && class=NexmarkQ6
/usr/bin/time -f "flink peak_rss_mb=%M cpu_s=%U+%S" \
    java -Dlog4j.configurationFile="$here/../flink-semantics/log4j2.properties" -cp "$lib/*:$out" "$class" "$@" 2>&1 \
    | grep -E '^flink|peak_rss|Exception|^([0-9]+> )?([+-][IUD]\[|\()' | sed 's/peak_rss_mb=\([0-9]*\)/peak_rss_kb=\1/'
rm -rf "$out"
