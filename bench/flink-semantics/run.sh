#!/usr/bin/env bash
# Runs the Flink counterparts of Strom's semantic tests (needs java and the apache-flink wheel;
# ../../../shared/anchors/flink/run.sh installs it). Classes go to a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib=$(python3 -c 'import os, pyflink; print(os.path.join(os.path.dirname(pyflink.__file__), "lib"))')
out=$(mktemp -d)
javac -nowarn -cp "$lib/*" -d "$out" "$here"/*.java
for class in "${@:-WindowSemantics}"; do
  java -cp "$lib/*:$out" "$class" 2>/dev/null | grep -v '^SLF4J'
done
rm -rf "$out"
