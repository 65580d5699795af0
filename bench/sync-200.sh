#!/usr/bin/env bash
# Benchmark: the cost of a no-change re-run of a 200-tag sync. One repository with 200 tags
# (one small image) is synced between two local registries, then synced again; the second run
# is timed and its requests are counted from both registries' access logs.
#   bash bench/sync-200.sh
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare
SRC=$(NO_ACCESSLOG=false start_registry source)
DST=$(NO_ACCESSLOG=false start_registry target)
seed_image "$SRC/library/app:1.0.0" 1
echo "tagging 200 tags in $SRC/library/app ..."
python3 - "$SRC" <<'PY'
import sys, urllib.request
src = sys.argv[1]
accept = "application/vnd.docker.distribution.manifest.v2+json"
req = urllib.request.Request(f"http://{src}/v2/library/app/manifests/1.0.0", headers={"Accept": accept})
with urllib.request.urlopen(req) as r:
    body, ctype = r.read(), r.headers["Content-Type"]
tags = [f"1.{m}.{p}" for m in range(20) for p in range(10)][1:] # 1.0.0 exists: 200 in all
for t in tags:
    put = urllib.request.Request(f"http://{src}/v2/library/app/manifests/{t}", data=body,
                                 method="PUT", headers={"Content-Type": ctype})
    urllib.request.urlopen(put).read()
PY
$BIN sync -q "$SRC/library/app" "$DST/mirror/app" >/dev/null
src_before=$(wc -l <"$WORK/source/log"); dst_before=$(wc -l <"$WORK/target/log")
t0=$(date +%s.%N)
$BIN sync -q "$SRC/library/app" "$DST/mirror/app" --report-json "$WORK/report.json" >/dev/null
t1=$(date +%s.%N)
count() { tail -n +"$(($2 + 1))" "$1" | grep -c "$3" || true; }
python3 - "$t0" "$t1" "$WORK/report.json" <<PY
import json, sys
s = json.load(open(sys.argv[3]))["summary"]
print(f"no-change re-run of a 200-tag sync: {float(sys.argv[2]) - float(sys.argv[1]):.2f} s, {s['skipped']} skipped, {s['copied']} copied")
PY
echo "source requests: $(count "$WORK/source/log" "$src_before" '" [0-9][0-9][0-9] ') total," \
  "$(count "$WORK/source/log" "$src_before" '"HEAD /v2/library/app/manifests/') manifest HEAD," \
  "$(count "$WORK/source/log" "$src_before" '"GET /v2/library/app/manifests/') manifest GET," \
  "$(count "$WORK/source/log" "$src_before" '/blobs/') blob," \
  "$(count "$WORK/source/log" "$src_before" '/tags/list') tag list"
echo "target requests: $(count "$WORK/target/log" "$dst_before" '" [0-9][0-9][0-9] ') total," \
  "$(count "$WORK/target/log" "$dst_before" '"HEAD /v2/mirror/app/manifests/') manifest HEAD," \
  "$(count "$WORK/target/log" "$dst_before" '"GET /v2/mirror/app/manifests/') manifest GET," \
  "$(count "$WORK/target/log" "$dst_before" '/blobs/') blob"
