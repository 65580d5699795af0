#!/usr/bin/env bash
# Benchmark: copy one image with a 1 GiB layer between two local registries and report wall
# time and peak RSS (/usr/bin/time -v) for registry-mirror, then skopeo for comparison.
# Goal (issue #2): peak RSS < 64 MiB, i.e. the layer streams and is never held in memory.
#   bash bench/copy-1gib.sh [LAYER_MIB]   (default 1024)
cd "$(dirname "$0")/.."
. examples/lib.sh
MIB=${1:-1024}
prepare
SRC=$(start_registry source)
DST=$(start_registry target)
echo "seeding $SRC/bench/big:1 with a $MIB MiB layer..."
seed_image "$SRC/bench/big:1" "$MIB"

measure() { # LABEL CMD...
  local label=$1; shift
  /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out"; return 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$WORK/time")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/time")
  printf '%-28s wall %-9s peak RSS %6.1f MiB\n' "$label" "$wall" "$(echo "$rss/1024" | bc -l 2>/dev/null || python3 -c "print($rss/1024)")"
}

measure "registry-mirror copy" $BIN copy -q "$SRC/bench/big:1" "$DST/bench/big:1"
measure "registry-mirror (up to date)" $BIN copy -q "$SRC/bench/big:1" "$DST/bench/big:1"
measure "registry-mirror --chunk-size" $BIN copy -q --chunk-size 8MiB "$SRC/bench/big:1" "$DST/bench/chunked:1"
measure "skopeo copy" skopeo copy -q --src-tls-verify=false --dest-tls-verify=false \
  "docker://$SRC/bench/big:1" "docker://$DST/bench/skopeo:1"
