#!/usr/bin/env bash
# A local demo: two throw-away registries, one generated image, `registry-mirror copy` twice
# (the second run finds the target up to date), then the JSON report.
#   bash bench/demo.sh
cd "$(dirname "$0")/.."
. bench/lib.sh
install_missing
cargo build --release --quiet
BIN=target/release/registry-mirror
SRC=$(start_registry source)
DST=$(start_registry target)
echo "source registry $SRC, target registry $DST"
seed_image "$SRC/library/demo:1.0" 8 2 1
set -x
$BIN copy "$SRC/library/demo:1.0" "$DST/mirror/demo:1.0" --report-json "$WORK/report.json"
$BIN copy "$SRC/library/demo:1.0" "$DST/mirror/demo:1.0"
$BIN copy --dry-run "$SRC/library/demo:1.0" "$DST/mirror/demo:1.1"
set +x
python3 -m json.tool "$WORK/report.json"
