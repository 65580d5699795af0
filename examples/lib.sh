# Shared by the demos (examples/) and the benchmarks (bench/): local registries and generated
# images.
# Needs: docker-registry, skopeo (seeding only), python3, sha256sum, gzip.
set -euo pipefail

WORK="${WORK:-$(mktemp -d /tmp/registry-mirror.XXXXXX)}"
# The token server start_registry runs for TOKEN_AUTH=1 (found from here: callers cd anywhere).
TOKEN_SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench/token_server.py"
cleanup() {
  # start_registry runs in $(...) subshells, so the pids live in files.
  for f in "$WORK"/*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

install_missing() {
  local need=()
  command -v docker-registry >/dev/null || need+=(docker-registry)
  command -v skopeo >/dev/null || need+=(skopeo)
  [ -x /usr/bin/time ] || need+=(time)
  if [ "${#need[@]}" -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# prepare: the tools installed and the release binary built (cargo shows its progress: the
# first build takes a few minutes); sets BIN (an absolute path).
prepare() {
  echo "== installing what is missing (docker-registry, skopeo) and building the release binary"
  install_missing
  cargo build --release --locked
  BIN="$PWD/target/release/registry-mirror"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry NAME -> prints HOST:PORT; storage under $WORK/NAME, log in $WORK/NAME/log
# (with NO_ACCESSLOG=false it holds the access log: one line per request).
start_registry() {
  local name=$1 port dir tport tdir
  port=$(free_port)
  dir="$WORK/$name"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: ${NO_ACCESSLOG:-true}}}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YAML
  # HTPASSWD=FILE: basic auth with that htpasswd file.
  if [ -n "${HTPASSWD:-}" ]; then
    printf 'auth: {htpasswd: {realm: bench, path: %s}}\n' "$HTPASSWD" >>"$dir/config.yml"
  fi
  # TOKEN_AUTH=1: token auth (user bench, password bench) from a token server of its own,
  # bench/token_server.py; its key, certificate and log (one line per token request) in
  # $WORK/NAME-token, its pid there too so that cleanup stops it.
  if [ "${TOKEN_AUTH:-0}" = 1 ]; then
    tport=$(free_port)
    tdir="$WORK/$name-token"
    mkdir -p "$tdir"
    python3 "$TOKEN_SERVER" "$tport" "$tdir" bench bench >"$tdir/log" 2>"$tdir/err" &
    echo $! >"$tdir/pid"
    # Wait until it answers (up to 10 s; it makes its key and certificate first), since the
    # registry reads the certificate at start. This probe is the log's first line.
    python3 - "$tport" <<'PY' || { echo "token server for $name did not start; see $tdir/err" >&2; return 1; }
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/token?service=probe", timeout=0.5)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
    # TOKEN_DELAY=MS: the realm is reached through bench/latency.py adding MS a request, as
    # a token server across the same slow link would be.
    local realm_port=$tport
    if [ -n "${TOKEN_DELAY:-}" ]; then
      realm_port=$(free_port)
      python3 "$(dirname "$TOKEN_SERVER")/latency.py" "$realm_port" "127.0.0.1:$tport" "$TOKEN_DELAY" \
        >"$tdir/proxy.log" 2>&1 &
      mkdir -p "$tdir-proxy" && echo $! >"$tdir-proxy/pid"
    fi
    cat >>"$dir/config.yml" <<YAML
auth:
  token:
    realm: http://127.0.0.1:$realm_port/token
    service: bench-registry
    issuer: bench-issuer
    rootcertbundle: $tdir/cert.pem
YAML
  fi
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  # Wait until it answers (up to 10 s).
  if python3 - "$port" <<'PY'
import sys, time, urllib.error, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=0.5)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # 401: it answers, with auth
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
  then
    echo "127.0.0.1:$port"
    return
  fi
  echo "registry $name did not start; see $dir/log" >&2
  return 1
}

# seed_image HOST/REPO:TAG LAYER_MIB... : builds an OCI layout with random gzip-typed layers of
# the given sizes (MiB, random bytes so nothing compresses) and pushes it with skopeo. With
# ARCHS="amd64 arm64" it builds a multi-arch OCI index (one image per arch, sharing the first
# layer) and pushes every platform; otherwise one Docker v2s2 image. With BASE=FILE the bytes of
# FILE are a first layer shared with every other image seeded from the same FILE, and every size
# given is a layer of this image alone.
seed_image() {
  local ref=$1; shift
  local layout="$WORK/layout-$RANDOM"
  ARCHS="${ARCHS:-}" BASE="${BASE:-}" python3 - "$layout" "$@" <<'PY'
import hashlib, json, os, sys
layout, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
archs = os.environ.get("ARCHS", "").split() or ["amd64"]
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
def put_file(tmp):
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    os.rename(tmp, os.path.join(blobs, d))
    return "sha256:" + d, os.path.getsize(os.path.join(blobs, d))
def put(data):
    tmp = os.path.join(layout, "tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    return put_file(tmp)
def random_layer(mib):
    tmp = os.path.join(layout, "tmp")
    with open(tmp, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    d, n = put_file(tmp)
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}
base = os.environ.get("BASE", "")
if base:
    # A base layer shared with other images: the same bytes, so the same digest.
    with open(base, "rb") as f:
        shared = put(f.read())
    shared = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": shared[0], "size": shared[1]}
    own = sizes
else:
    shared = random_layer(sizes[0]) if sizes else None
    own = sizes[1:]
entries = []
for arch in archs:
    layers = ([shared] if shared else []) + [random_layer(m) for m in own]
    config = json.dumps({"architecture": arch, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}, "config": {}}).encode()
    cd, cn = put(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": layers}).encode()
    md, mn = put(manifest)
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "platform": {"architecture": arch, "os": "linux"}})
if len(archs) > 1:
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries}).encode()
    xd, xn = put(idx)
    top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xn}
else:
    top = {k: entries[0][k] for k in ("mediaType", "digest", "size")}
top["annotations"] = {"org.opencontainers.image.ref.name": "seed"}
json.dump({"schemaVersion": 2, "manifests": [top]}, open(os.path.join(layout, "index.json"), "w"))
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
  if [ -n "${ARCHS:-}" ]; then
    skopeo copy -q --all --dest-tls-verify=false "oci:$layout:seed" "docker://$ref" >/dev/null
  else
    skopeo copy -q --dest-tls-verify=false --format v2s2 "oci:$layout:seed" "docker://$ref" >/dev/null
  fi
  rm -rf "$layout"
}
