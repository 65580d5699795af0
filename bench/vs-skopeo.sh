#!/usr/bin/env bash
# registry-mirror against skopeo 1.9 (`skopeo copy --all`, 5 at a time through `xargs -P5`, the
# shell glue this tool replaces), in alternation, RUNS times each (default 3), every run into
# fresh target registries. Scenarios:
#   small     20 two-platform images sharing a 2 MiB base (1 MiB of their own per platform)
#   small-20  the same, source and target each behind a proxy adding 20 ms per request
#   slow-100  the same, 100 ms per request (token requests too), into a target with token auth
#             (bench/token_server.py)
#   noop      the small set again into a target that holds it already
#   big       one image with one BIG_MB (default 256) MiB layer
# Prints medians and min-max of the wall times, the speed-up, the requests the target received
# from each tool, and the floor computed from what was copied; with token auth also the token
# requests each tool made.
#   bash bench/vs-skopeo.sh
#   RUNS=5 SCENARIOS="small slow-100" bash bench/vs-skopeo.sh
#   RM_FLAGS="--blobs-in-flight 16" SCENARIOS=slow-100 bash bench/vs-skopeo.sh   (extra flags)
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare
command -v htpasswd >/dev/null || {
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq apache2-utils >/dev/null
}
export NO_ACCESSLOG=false
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"small small-20 slow-100 noop big"}
BIG_MB=${BIG_MB:-256}

SRC=$(start_registry source)
echo "== seeding the source $SRC"
head -c $((2 << 20)) /dev/urandom >"$WORK/base"
: >"$WORK/small.txt"
for i in $(seq 1 20); do
  BASE="$WORK/base" ARCHS="amd64 arm64" seed_image "$SRC/small/app$i:1.0" 1 >/dev/null
  echo "small/app$i:1.0" >>"$WORK/small.txt"
done
# seed_image's own layers are 1 MiB; the big image gets one layer of BIG_MB.
head -c $((BIG_MB << 20)) /dev/urandom >"$WORK/big-layer"
BASE="$WORK/big-layer" seed_image "$SRC/big/app:1.0" >/dev/null
echo "big/app:1.0" >"$WORK/big.txt"

# A latency proxy in front of UPSTREAM: prints its HOST:PORT.
start_proxy() {
  local name=$1 upstream=$2 delay=$3 port
  port=$(free_port)
  mkdir -p "$WORK/$name"
  python3 bench/latency.py "$port" "$upstream" "$delay" >"$WORK/$name/log" 2>&1 &
  echo $! >"$WORK/$name/pid"
  python3 - "$port" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
  echo "127.0.0.1:$port"
}

# A target registry, optionally with auth (user bench, password bench): AUTH is "basic"
# (htpasswd) or "token" (a token server of its own, its log in $WORK/NAME-token/log).
start_target() {
  local name=$1 auth=${2:-}
  case $auth in
    basic)
      mkdir -p "$WORK/$name"
      htpasswd -Bbn bench bench >"$WORK/$name/htpasswd"
      HTPASSWD="$WORK/$name/htpasswd" start_registry "$name"
      ;;
    token) TOKEN_AUTH=1 TOKEN_DELAY=${3:-} start_registry "$name" ;;
    *) start_registry "$name" ;;
  esac
}

requests() { grep -cE '"(GET|HEAD|POST|PUT|PATCH|DELETE) /v2/.+ HTTP' "$WORK/$1/log" || true; }
# The token requests target NAME's token server answered (0 without one).
tokens() { if [ -f "$WORK/$1-token/log" ]; then grep -c '^token ' "$WORK/$1-token/log" || true; else echo 0; fi; }

run_rm() { # LIST SRC DST [creds]
  local creds=()
  [ -n "${4:-}" ] && creds=(--dest-creds "$4")
  # shellcheck disable=SC2086 # RM_FLAGS: extra flags, word-split on purpose
  /usr/bin/time -f %M -o "$WORK/rss" $BIN mirror -q --parallel 5 --all-platforms --format preserve ${RM_FLAGS:-} -f <(sed "s|^|$2/|" "$1") \
    --target-registry "$3" --target-namespace rm "${creds[@]}" --report-json "$WORK/report.json" >/dev/null
}

run_skopeo() { # LIST SRC DST [creds]
  local creds=()
  [ -n "${4:-}" ] && creds=(--dest-creds "$4")
  xargs -P 5 -I{} skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false "${creds[@]}" \
    "docker://$2/{}" "docker://$3/sk/{}" <"$1"
}

now() { date +%s.%N; }
n=0
scenario() { # NAME LIST DELAY AUTH(""|basic|token) PREFILL
  local name=$1 list=$2 delay=$3 auth=$4 prefill=$5 run src dst t0 t1 order tool creds="" floor
  [ -n "$auth" ] && creds="bench:bench"
  : >"$WORK/$name.times"
  for run in $(seq 1 "$RUNS"); do
    # Alternate who goes first.
    if [ $((run % 2)) = 1 ]; then order="rm sk"; else order="sk rm"; fi
    for tool in $order; do
      n=$((n + 1))
      dst=$(start_target "t$n" "$auth" "${delay#0}")
      src=$SRC
      if [ "$delay" != 0 ]; then
        src=$(start_proxy "ps$n" "$SRC" "$delay")
        dst=$(start_proxy "pd$n" "$dst" "$delay")
      fi
      if [ "$prefill" = 1 ]; then
        if [ "$tool" = rm ]; then run_rm "$list" "$src" "$dst" "$creds"; else run_skopeo "$list" "$src" "$dst" "$creds"; fi
      fi
      local before tokens_before
      before=$(requests "t$n")
      tokens_before=$(tokens "t$n")
      t0=$(now)
      if [ "$tool" = rm ]; then run_rm "$list" "$src" "$dst" "$creds"; else run_skopeo "$list" "$src" "$dst" "$creds"; fi
      t1=$(now)
      floor=0
      if [ "$tool" = rm ]; then
        # Two requests an uploaded blob, one a mount, one a manifest, one tag HEAD an image.
        floor=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); s=r['summary']; m=sum(len(i['platforms'])+(1 if len(i['platforms'])>1 else 0) for i in r['images'] if i['status']=='copied'); print(2*s['blobs_copied']+s['blobs_mounted']+m+s['total'])" "$WORK/report.json")
      fi
      local rss=0
      [ "$tool" = rm ] && rss=$(tail -1 "$WORK/rss")
      echo "$tool $(python3 -c "print(f'{$t1-$t0:.3f}')") $(($(requests "t$n") - before)) $floor $rss $(($(tokens "t$n") - tokens_before))" >>"$WORK/$name.times"
      kill "$(cat "$WORK/t$n/pid")" 2>/dev/null || true
      for p in "$WORK/t$n-token/pid" "$WORK/t$n-token-proxy/pid"; do
        if [ -f "$p" ]; then kill "$(cat "$p")" 2>/dev/null || true; fi
      done
    done
  done
  python3 - "$name" "$WORK/$name.times" "$auth" <<'PY'
import statistics, sys
name, path, auth = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.split() for l in open(path)]
def pick(tool, i): return [float(r[i]) for r in rows if r[0] == tool]
rm, sk = pick("rm", 1), pick("sk", 1)
med = lambda v: statistics.median(v)
speed = med(sk) / med(rm) if med(rm) else float("inf")
print(f"{name:9} registry-mirror {med(rm):7.2f} s ({min(rm):.2f}-{max(rm):.2f})   skopeo {med(sk):7.2f} s ({min(sk):.2f}-{max(sk):.2f})   {speed:5.1f}x   "
      f"target requests: registry-mirror {int(med(pick('rm', 2)))} (floor {int(med(pick('rm', 3)))}), skopeo {int(med(pick('sk', 2)))}   "
      f"peak RSS {max(pick('rm', 4)) / 1024:.0f} MiB"
      + (f"   token requests: registry-mirror {int(med(pick('rm', 5)))}, skopeo {int(med(pick('sk', 5)))}" if auth == "token" else ""))
PY
}

echo "== $RUNS runs a scenario, alternating; times are wall clock"
for s in $SCENARIOS; do
  case $s in
    small) scenario small "$WORK/small.txt" 0 "" 0 ;;
    small-20) scenario small-20 "$WORK/small.txt" 20 "" 0 ;;
    slow-100) scenario slow-100 "$WORK/small.txt" 100 token 0 ;;
    noop) scenario noop "$WORK/small.txt" 0 "" 1 ;;
    big) scenario big "$WORK/big.txt" 0 "" 0 ;;
  esac
done
