#!/usr/bin/env bash
# Benchmark: the shape of the 30-image test list, mirrored between two local registries by
# `registry-mirror mirror --parallel 5`, and by `skopeo copy --all` run 5 at a time (`xargs -P 5`),
# as the shell workflows of the field do. 20 single-platform images on two shared base layers
# (8 and 6 MiB) plus 1 MiB of their own; 10 two-platform (amd64, arm64) images on a shared 4 MiB
# base plus 1 MiB per platform. Both tools keep every platform. Prints the wall times.
#   bash bench/mirror-30.sh
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare
export NO_ACCESSLOG=false # the targets' access logs give the request counts
SRC=$(start_registry source)
DST=$(start_registry target)
DST2=$(start_registry target-skopeo) # skopeo gets its own empty target: no blob is there already
echo "seeding 30 images into $SRC ..."
for b in a:8 b:6 c:4; do head -c "$((${b#*:} << 20))" /dev/urandom >"$WORK/base-${b%%:*}"; done
: >"$WORK/list.txt"
for i in $(seq 1 20); do
  BASE="$WORK/base-$([ $((i % 2)) = 0 ] && echo a || echo b)" seed_image "$SRC/team$((i % 3))/svc$i:1.0" 1
  echo "$SRC/team$((i % 3))/svc$i:1.0" >>"$WORK/list.txt"
done
for i in $(seq 1 10); do
  BASE="$WORK/base-c" ARCHS="amd64 arm64" seed_image "$SRC/multi/app$i:2.0" 1
  echo "$SRC/multi/app$i:2.0" >>"$WORK/list.txt"
done

t0=$(date +%s.%N)
$BIN mirror -q --parallel 5 --all-platforms -f "$WORK/list.txt" --target-registry "$DST" --target-namespace rm \
  --report-json "$WORK/report.json" >/dev/null
t1=$(date +%s.%N)
sed "s|^$SRC/||" "$WORK/list.txt" |
  xargs -P 5 -I{} skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
    "docker://$SRC/{}" "docker://$DST2/skopeo/{}"
t2=$(date +%s.%N)
t3=$(date +%s.%N)
$BIN mirror -q --parallel 5 --all-platforms -f "$WORK/list.txt" --target-registry "$DST" --target-namespace rm >/dev/null
t4=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$WORK/report.json" "$WORK/target/log" "$WORK/target-skopeo/log" <<'PY'
import collections, json, re, sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6])
s = json.load(open(sys.argv[6]))["summary"]
def requests(path):
    c = collections.Counter()
    for line in open(path, errors="replace"):
        m = re.search(r'"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP', line)
        if m and m.group(2) != "/v2/":
            c[m.group(1)] += 1
    return c
for who, path in (("registry-mirror (both runs)", sys.argv[7]), ("skopeo", sys.argv[8])):
    c = requests(path)
    print(f"{who:28} target requests: {sum(c.values())} ({', '.join(f'{k} {v}' for k, v in sorted(c.items()))})")
print(f"registry-mirror mirror --parallel 5   {t1-t0:6.2f} s  ({s['copied']} copied, {s['blobs_copied']} blobs copied, {s['blobs_mounted']} mounted, {s['bytes']/2**20:.0f} MiB)")
print(f"skopeo copy --all, 5 at a time       {t2-t1:6.2f} s")
print(f"registry-mirror again (all up to date) {t4-t3:6.2f} s")
PY
