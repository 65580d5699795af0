#!/usr/bin/env bash
# Benchmark: a list of 30 images (4 MiB + 1 MiB layers each) mirrored between two local
# registries by `registry-mirror mirror --parallel 5`, and by `skopeo copy --all` run 5 at a
# time (`xargs -P 5`), as the shell workflows of the field do. Prints the wall times.
#   bash bench/mirror-30.sh
cd "$(dirname "$0")/.."
. bench/lib.sh
install_missing
cargo build --release --quiet
BIN=target/release/registry-mirror
SRC=$(start_registry source)
DST=$(start_registry target)
echo "seeding 30 images into $SRC ..."
: >"$WORK/list.txt"
for i in $(seq 1 30); do
  seed_image "$SRC/bench/app$i:1.0" 4 1
  echo "$SRC/bench/app$i:1.0" >>"$WORK/list.txt"
done

t0=$(date +%s.%N)
$BIN mirror -q --parallel 5 -f "$WORK/list.txt" --target-registry "$DST" --target-namespace rm \
  --report-json "$WORK/report.json" >/dev/null
t1=$(date +%s.%N)
sed "s|^$SRC/bench/\(.*\)$|\1|" "$WORK/list.txt" |
  xargs -P 5 -I{} skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
    "docker://$SRC/bench/{}" "docker://$DST/skopeo/{}"
t2=$(date +%s.%N)
t3=$(date +%s.%N)
$BIN mirror -q --parallel 5 -f "$WORK/list.txt" --target-registry "$DST" --target-namespace rm >/dev/null
t4=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$WORK/report.json" <<'PY'
import json, sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6])
s = json.load(open(sys.argv[6]))["summary"]
print(f"registry-mirror mirror --parallel 5   {t1-t0:6.2f} s  ({s['copied']} copied, {s['blobs_copied']} blobs, {s['bytes']/2**20:.0f} MiB)")
print(f"skopeo copy --all, 5 at a time       {t2-t1:6.2f} s")
print(f"registry-mirror again (all up to date) {t4-t3:6.2f} s")
PY
