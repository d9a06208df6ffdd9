#!/usr/bin/env bash
# Runs the Flink counterparts of Strom's semantic tests (needs java and the apache-flink wheel;
# ../../../shared/anchors/flink/run.sh installs it). Classes go to a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$(python3 -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')
out=$(mktemp -d)
anchor=$here/../../../shared/anchors/flink
javac -nowarn -cp "$lib/*" -d "$out" "$here"/*.java "$anchor"/WindowAgg.java
# run.sh [CLASS [ARGS...]]: WindowSemantics by default; WindowAggCheck EVENTS PARALLELISM.
class=${1:-WindowSemantics}
shift || true
java -Dlog4j.configurationFile="$here/log4j2.properties" -cp "$lib/*:$out" "$class" "$@" 2>/dev/null \
    | grep -v '^SLF4J'
rm -rf "$out"
