#!/usr/bin/env bash
# The install logic of the composite action (action.yml), one step per subcommand:
#
#   prepare   check the inputs, pick the build for this runner, name the install directories and
#             cache keys (a source build is keyed by a hash of the source, never by the version)
#   download  fetch the release asset of VERSION and its .sha256 from the repository the action
#             comes from; the checksum is always checked (a mismatch is an error), the build
#             provenance too when `gh` and a token are there; a missing asset (HTTP 404) is not an
#             error: it prints a notice and sets `installed=false`, and the action builds instead
#   build     `cargo install --locked` from the action's own source
#
# Everything comes in through the environment (action.yml passes its inputs via `env:`) and goes out
# through GITHUB_OUTPUT. .ci/test-install runs it against a stand-in release server.
#
# Knobs, mainly for tests: REGISTRY_MIRROR_RELEASE_URL replaces the release download base
# (default: $GITHUB_SERVER_URL/OWNER/REPO/releases/download); REGISTRY_MIRROR_CURL_TIMEOUT is the
# connect timeout in seconds (default 10).
set -euo pipefail

die() { echo "::error title=registry-mirror::$1"; exit "${2:-1}"; }
out() { echo "$1=$2" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"; }

sha256_stdin() {
  if command -v sha256sum >/dev/null; then
    sha256sum | cut -d' ' -f1
  else
    shasum -a 256 | cut -d' ' -f1 # macOS
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1 # macOS
  fi
}

# A hash of everything a build from source depends on: the manifest, the lock file, the code and
# the templates compiled into it. Paths are part of it, so a renamed file changes it too.
source_hash() {
  local files=() f
  while IFS= read -r f; do files+=("$f"); done < <(
    cd "$1"
    for f in Cargo.toml Cargo.lock build.rs; do
      if [ -f "$f" ]; then echo "$f"; fi
    done
    for f in src templates; do
      if [ -d "$f" ]; then find "$f" -type f; fi
    done | LC_ALL=C sort
  )
  if [ "${#files[@]}" -eq 0 ]; then echo none; return; fi
  (
    cd "$1"
    if command -v sha256sum >/dev/null; then sha256sum -- "${files[@]}"; else shasum -a 256 -- "${files[@]}"; fi
  ) | sha256_stdin
}

# OWNER/REPO of the action: `github.action_repository` when the runner fills it in (it does not
# always for composite actions), else the checkout path of a remote action
# (.../_actions/OWNER/REPO/REF), else the repository of the workflow (`uses: ./`).
action_repository() {
  if [ -n "${ACTION_REPOSITORY:-}" ]; then
    echo "$ACTION_REPOSITORY"
    return
  fi
  local path="${GITHUB_ACTION_PATH:-}"
  path="${path//\\//}" # Windows
  if [[ "$path" =~ /_actions/([^/]+)/([^/]+)/[^/]+ ]]; then
    echo "${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
    return
  fi
  echo "${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}"
}

cmd_prepare() {
  : "${INPUT_COMMAND:=}" "${INPUT_VERSION:=}" "${RUNNER_OS_NAME:=}" "${RUNNER_ARCH_NAME:=}"
  : "${TOOL_CACHE:?TOOL_CACHE is not set}" "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
  case "$INPUT_COMMAND" in
    issue|mirror|copy|sync|run|validate) ;;
    *) die "input 'command' is '$INPUT_COMMAND'; it must be one of issue, mirror, copy, sync, run, validate" 2 ;;
  esac
  local mode
  if [ "$INPUT_VERSION" = source ]; then
    mode=source
  elif [[ "$INPUT_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    mode=release # it names a directory, a cache key and a download URL
  else
    die "input 'version' must be a release version like 0.1.0, or 'source' to build the action's own source" 2
  fi
  local target
  case "$RUNNER_OS_NAME/$RUNNER_ARCH_NAME" in
    Linux/X64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64) target=aarch64-unknown-linux-musl ;;
    macOS/X64) target=x86_64-apple-darwin ;;
    macOS/ARM64) target=aarch64-apple-darwin ;;
    Windows/X64) target=x86_64-pc-windows-msvc ;;
    *) die "no build for $RUNNER_OS_NAME/$RUNNER_ARCH_NAME" ;;
  esac
  local src lock
  src="$(source_hash "$GITHUB_ACTION_PATH")"
  lock="none"
  if [ -f "$GITHUB_ACTION_PATH/Cargo.lock" ]; then lock="$(sha256_of "$GITHUB_ACTION_PATH/Cargo.lock")"; fi
  local repository
  repository="$(action_repository)"
  if ! [[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
    die "cannot tell which repository the action comes from (got '$repository')"
  fi
  local base="$TOOL_CACHE/registry-mirror"
  out mode "$mode"
  out target "$target"
  out repository "$repository"
  out release-dir "$base/$INPUT_VERSION/$target"
  out release-key "registry-mirror-release-$INPUT_VERSION-$target"
  out source-dir "$base/source-${src:0:16}/$target"
  out source-key "registry-mirror-source-$target-$src"
  # The cargo build directory of source builds: restored from the newest build with the same
  # Cargo.lock, so a new commit recompiles this crate only, not its dependencies.
  out build-dir "$base/build/$target"
  out build-key "registry-mirror-build-$target-${lock:0:16}-${src:0:16}"
  out build-restore-key "registry-mirror-build-$target-${lock:0:16}-"
}

cmd_download() {
  : "${VERSION:?}" "${TARGET:?}" "${DIR:?}" "${REPOSITORY:?}"
  local asset="registry-mirror-$VERSION-$TARGET.tar.gz"
  local base="${REGISTRY_MIRROR_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$REPOSITORY/releases/download}"
  local url="${base%/}/v$VERSION/$asset"
  local timeout="${REGISTRY_MIRROR_CURL_TIMEOUT:-10}"
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -rf '$tmp'" EXIT

  # Short connect timeout and few retries: a missing asset must not cost minutes before the build.
  # HTTPS only, redirects included; plain HTTP only when the base URL itself is http:// (tests).
  local proto='=https'
  if [[ "$base" == http://* ]]; then proto='=http,https'; fi
  fetch() { # URL FILE -> the HTTP status on stdout; curl's own failure (no status) is an error
    curl -sSL --proto "$proto" --proto-redir "$proto" --connect-timeout "$timeout" --max-time 600 \
      --retry 2 --retry-delay 1 -o "$2" -w '%{http_code}' "$1"
  }
  local status
  status="$(fetch "$url" "$tmp/$asset")" || die "downloading $url failed (curl exit $?)"
  case "$status" in
    200) ;;
    404)
      echo "::notice title=registry-mirror::no release asset $asset in $REPOSITORY (HTTP 404 from $url); building registry-mirror from the action's source with cargo instead. The first build takes about 5-10 minutes; later runs reuse it from the cache while the source is unchanged."
      out installed false
      return 0
      ;;
    *) die "downloading $url failed: HTTP $status" ;;
  esac
  status="$(fetch "$url.sha256" "$tmp/$asset.sha256")" || die "downloading $url.sha256 failed (curl exit $?)"
  if [ "$status" != 200 ]; then
    die "the release has $asset but its checksum $asset.sha256 could not be fetched (HTTP $status); refusing to install an unverified binary"
  fi

  # A bad checksum is an error, never a reason to fall back to something else.
  local want got
  want="$(tr -d '\r' <"$tmp/$asset.sha256" | awk 'NR == 1 { print tolower($1) }')"
  got="$(sha256_of "$tmp/$asset")"
  if ! [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then
    die "$asset.sha256 holds no sha256; refusing to install $asset"
  fi
  if [ "$want" != "$got" ]; then
    die "checksum mismatch for $asset: $asset.sha256 says $want, the download is $got; refusing to install it"
  fi
  echo "checksum ok: $asset sha256 $got"

  # Build provenance: who built the asset, from which repository (actions/attest-build-provenance
  # in release.yml). A failed verification is an error; without gh or a token it is skipped.
  if ! command -v gh >/dev/null; then
    echo "build provenance not verified: gh is not installed (the sha256 checksum was checked)"
  elif [ -z "${GH_TOKEN:-}" ]; then
    echo "build provenance not verified: no token for gh (input github-token; the sha256 checksum was checked)"
  elif ! gh attestation verify --help >/dev/null 2>&1; then
    echo "build provenance not verified: this gh has no 'attestation verify' (too old; the sha256 checksum was checked)"
  elif gh attestation verify "$tmp/$asset" --repo "$REPOSITORY"; then
    echo "build provenance ok: $asset was built by a workflow of $REPOSITORY"
  else
    die "the build provenance of $asset could not be verified for $REPOSITORY (gh attestation verify); refusing to install it"
  fi

  local bin=registry-mirror
  if [[ "$TARGET" == *windows* ]]; then bin=registry-mirror.exe; fi
  mkdir -p "$tmp/unpack"
  tar -xzf "$tmp/$asset" -C "$tmp/unpack" || die "$asset is not a readable .tar.gz"
  [ -f "$tmp/unpack/$bin" ] || die "$asset has no $bin at its top level"
  mkdir -p "$DIR/bin"
  chmod 755 "$tmp/unpack/$bin"
  mv -f "$tmp/unpack/$bin" "$DIR/bin/$bin"
  echo "installed registry-mirror $VERSION ($TARGET) from the release of $REPOSITORY"
  out installed true
}

cmd_build() {
  : "${DIR:?}" "${BUILD_DIR:?}" "${GITHUB_ACTION_PATH:?}"
  if ! command -v cargo >/dev/null; then
    die "cargo is not on PATH; building registry-mirror from source needs a Rust toolchain (GitHub-hosted runners have one; elsewhere install it, or use a version that has a release asset)"
  fi
  if [ "${REASON:-}" = source ]; then
    echo "::notice title=registry-mirror::version 'source': building registry-mirror from the action's source with cargo (first build about 5-10 minutes; cached by Cargo.lock and a hash of the source)"
  fi
  local start=$SECONDS
  cargo install --locked --force --root "$DIR" --target-dir "$BUILD_DIR" --path "$GITHUB_ACTION_PATH"
  echo "built registry-mirror from source in $((SECONDS - start))s"
  out built true
}

case "${1:-}" in
  prepare) cmd_prepare ;;
  download) cmd_download ;;
  build) cmd_build ;;
  *) echo "usage: $0 prepare|download|build" >&2; exit 2 ;;
esac
