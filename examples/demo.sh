#!/usr/bin/env bash
# A local, offline demo: two throw-away registries, a few generated images (two of them
# multi-arch), `registry-mirror mirror` into a flattened namespace, the same run again (all up
# to date), and the Markdown report.
#   bash examples/demo.sh
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare
SRC=$(start_registry source)
DST=$(start_registry target)
echo "source registry $SRC, target registry $DST; seeding images..."
ARCHS="amd64 arm64" seed_image "$SRC/library/web:1.27" 4 1
ARCHS="amd64 arm64" seed_image "$SRC/team/api:2.0" 3 1
seed_image "$SRC/tools/cli:0.9" 2 1
seed_image "$SRC/google-containers/pause:3.9" 1
cat >"$WORK/images.txt" <<LIST
# images to mirror (the mirror-request issue form takes the same list)
- $SRC/library/web:1.27
- $SRC/team/api:2.0
- \`$SRC/tools/cli:0.9\`
$SRC/google-containers/pause:3.9 k8s/pause
LIST
cat "$WORK/images.txt"
set -x
$BIN validate -f "$WORK/images.txt" --target-registry "$DST" --target-namespace mirrors \
  --platform linux/amd64,linux/arm64
$BIN mirror -f "$WORK/images.txt" --target-registry "$DST" --target-namespace mirrors \
  --platform linux/amd64,linux/arm64 --summary "$WORK/summary.md" --report-json "$WORK/report.json"
$BIN mirror -q -f "$WORK/images.txt" --target-registry "$DST" --target-namespace mirrors \
  --platform linux/amd64,linux/arm64
set +x
cat "$WORK/summary.md"
