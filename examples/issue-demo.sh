#!/usr/bin/env bash
# The issue flow, locally and offline: two throw-away registries, a few generated images, a
# stand-in for the GitHub REST API (a small Python server that answers like GitHub and keeps
# what it was sent), and the `issues: opened` payload GitHub would deliver for a
# `mirror-request` issue. Runs `registry-mirror issue` exactly as the workflow does and prints
# the calls it made and the final comment, rendered Markdown source included.
#   bash examples/issue-demo.sh
cd "$(dirname "$0")/.."
. examples/lib.sh
prepare
SRC=$(start_registry source)
DST=$(start_registry target)
echo "source registry $SRC, target registry $DST; seeding images..."
ARCHS="amd64 arm64" seed_image "$SRC/library/nginx:1.27" 3 1
seed_image "$SRC/google-containers/pause:3.9" 1
seed_image "$SRC/prometheus/node-exporter:v1.8.0" 2 1

# The stand-in GitHub API: every call is appended to calls.log, comment bodies to comment-N.md.
API_PORT=$(free_port)
mkdir -p "$WORK/github"
python3 - "$API_PORT" "$WORK/github" <<'PY' &
import json, sys, http.server, socketserver
port, out = int(sys.argv[1]), sys.argv[2]
state = {"next": 1000, "labels": {"mirror-request"}}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def handle_any(self):
        n = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(n) or b"null")
        with open(f"{out}/calls.log", "a") as f:
            f.write(f"{self.command} {self.path} {json.dumps(body, ensure_ascii=False)[:100]}\n")
        p = self.path.split("/")
        if self.command == "POST" and p[-1] == "comments":
            state["next"] += 1
            open(f"{out}/comment-{state['next']}.md", "w").write(body["body"])
            return self.reply(201, {"id": state["next"]})
        if self.command == "PATCH" and p[-2] == "comments":
            open(f"{out}/comment-{p[-1]}.md", "w").write(body["body"])
            return self.reply(200, {"id": int(p[-1])})
        if self.command == "GET" and p[-2] == "labels":
            return self.reply(200 if p[-1] in state["labels"] else 404, {"message": "Not Found"})
        if self.command == "POST" and p[-1] == "labels" and p[-3] != "issues":
            state["labels"].add(body["name"]); return self.reply(201, body)
        return self.reply(200, body if body is not None else {})
    do_GET = do_POST = do_PATCH = do_DELETE = handle_any
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("127.0.0.1", port), H).serve_forever()
PY
echo $! >"$WORK/github/pid" # stopped by the cleanup in lib.sh

# The payload of `issues: opened` for an issue written with the mirror-request form.
python3 - "$WORK/event.json" "$SRC" <<'PY'
import json, sys
path, src = sys.argv[1], sys.argv[2]
# As GitHub renders .github/ISSUE_TEMPLATE/mirror-request.yml (the images field has render: text).
body = f"""### Images

```text
{src}/library/nginx:1.27
- {src}/google-containers/pause:3.9
`{src}/prometheus/node-exporter:v1.8.0`
```

### Platforms

linux/amd64,linux/arm64

### Options

- [ ] Sync all architectures"""
json.dump({"action": "opened", "issue": {
    "number": 1, "title": "Mirror nginx, pause and node-exporter", "body": body, "state": "open",
    "labels": [{"name": "mirror-request"}], "author_association": "OWNER",
    "user": {"login": "octocat"}, "html_url": "https://github.com/you/mirrors/issues/1"},
    "repository": {"full_name": "you/mirrors"}, "sender": {"login": "octocat"}}, open(path, "w"))
PY
python3 - "$API_PORT" <<'PY'
import sys, time, urllib.request, urllib.error
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ping"); break
    except urllib.error.HTTPError: break
    except Exception: time.sleep(0.1)
PY

set -x
GITHUB_EVENT_NAME=issues GITHUB_EVENT_PATH="$WORK/event.json" GITHUB_REPOSITORY=you/mirrors \
GITHUB_TOKEN=demo-token GITHUB_API_URL="http://127.0.0.1:$API_PORT" GITHUB_RUN_ID=1 \
TARGET_REGISTRY="$DST" TARGET_NAMESPACE=mirrors \
  "$BIN" issue --summary "$WORK/summary.md"
set +x
echo; echo "== calls the stand-in GitHub API received"; grep -v "/ping" "$WORK/github/calls.log"
echo; echo "== the issue comment, as it ends up"; cat "$WORK/github/comment-1001.md"
