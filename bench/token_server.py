#!/usr/bin/env python3
"""A Docker Registry v2 token server for the benches: the token realm of a distribution registry
(`docker-registry serve`, 2.8) configured with

    auth:
      token:
        realm: http://127.0.0.1:PORT/token
        service: bench-registry
        issuer: bench-issuer
        rootcertbundle: DIR/cert.pem

One user, USER:PASSWORD. `GET /token?service=S&scope=repository:NAME:pull,push&scope=...`
(`account=` is accepted and ignored) with that user's Basic credentials grants every requested
action among pull and push; without credentials (anonymous) only pull; wrong ones get a 401.
`POST /token` with the OAuth2 form (grant_type=password, username, password, scope separated by
spaces, service) answers the same. The answer is
`{"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": RFC3339}`; the JWT is RS256,
signed by DIR/key.pem through `openssl dgst`, with DIR/cert.pem (the registry's root itself) as
its x5c chain. Both files are made at start, with `openssl`, when missing.

Every token request is one line on stdout, `token METHOD PATH scopes=N user=U status=S`, so a
bench counts them with `grep -c '^token '`.

    python3 bench/token_server.py PORT DIR USER PASSWORD
"""
import base64
import datetime
import hmac
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

ISSUER = "bench-issuer"  # the registry's `issuer:`
EXPIRES_IN = 300  # seconds a token is good for
ACTIONS = ("pull", "push")  # what the user may be granted; anonymous gets pull only


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def ensure_key_and_cert(directory):
    """DIR/key.pem (RSA 2048) and DIR/cert.pem (self-signed with it), made when missing."""
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    os.makedirs(directory, exist_ok=True)
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if not os.path.exists(key):
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], **quiet)
        if os.path.exists(cert):
            os.remove(cert)  # signed by another key
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-out", cert, "-days", "30",
                        "-subj", "/CN=bench-token"], **quiet)
    return key, cert


class Issuer:
    def __init__(self, key, cert, user, password):
        self.key = key
        self.user = user
        self.password = password
        with open(cert) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        self.header = b64url(json.dumps(header, separators=(",", ":")).encode())

    def check(self, username, password):
        """The subject for these credentials ("" for none), or None when they are wrong."""
        if username is None:
            return ""
        ok = hmac.compare_digest(username.encode(), self.user.encode())
        ok &= hmac.compare_digest((password or "").encode(), self.password.encode())
        return username if ok else None

    def access(self, scopes, subject):
        """One access entry per requested scope: the actions among ACTIONS the subject gets."""
        allowed = ACTIONS if subject else ("pull",)
        out = []
        for scope in scopes:
            # TYPE:NAME:ACTIONS; NAME has no colon in a repository scope, but split from both ends.
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if not kind or not name:
                continue
            granted = [a for a in actions.split(",") if a in allowed] if kind == "repository" else []
            out.append({"type": kind, "name": name, "actions": granted})
        return out

    def sign(self, payload):
        data = (self.header + "." + b64url(json.dumps(payload, separators=(",", ":")).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=data,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
        return data.decode() + "." + b64url(sig)

    def answer(self, service, scopes, subject):
        now = int(time.time())
        token = self.sign({
            "iss": ISSUER, "sub": subject, "aud": service,
            "exp": now + EXPIRES_IN, "nbf": now - 1, "iat": now,
            "jti": uuid.uuid4().hex,
            "access": self.access(scopes, subject),
        })
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": token, "access_token": token, "expires_in": EXPIRES_IN, "issued_at": issued}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as registry clients expect
    issuer = None  # set in main
    out_lock = threading.Lock()

    def log_message(self, format, *args):
        pass  # stdout carries one line per token request; nothing else is logged

    def note(self, scopes, user, status):
        with self.out_lock:
            print(f"token {self.command} {self.path} scopes={len(scopes)} user={user or '-'} status={status}",
                  flush=True)

    def reply(self, status, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def basic(self):
        """(username, password) from an Authorization: Basic header, (None, None) without one."""
        value = self.headers.get("Authorization", "")
        if not value.lower().startswith("basic "):
            return None, None
        try:
            user, _, password = base64.b64decode(value[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", ""  # garbled: wrong credentials
        return user, password

    def grant(self, service, scopes, username, password):
        subject = self.issuer.check(username, password)
        if subject is None:
            self.note(scopes, username, 401)
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]},
                       [("WWW-Authenticate", 'Basic realm="bench-token"')])
            return
        try:
            body = self.issuer.answer(service, scopes, subject)
        except subprocess.CalledProcessError as e:
            self.note(scopes, username, 500)
            self.reply(500, {"errors": [{"code": "UNKNOWN", "message": e.stderr.decode(errors="replace")}]})
            return
        self.note(scopes, username, 200)
        self.reply(200, body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        q = urllib.parse.parse_qs(url.query)
        scopes = [s for v in q.get("scope", []) for s in v.split()]
        username, password = self.basic()
        self.grant(q.get("service", [""])[0], scopes, username, password)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode(errors="replace"))
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
            return
        field = lambda k: form.get(k, [None])[0]
        scopes = [s for v in form.get("scope", []) for s in v.split()]
        if field("grant_type") != "password":
            self.note(scopes, field("username"), 400)
            self.reply(400, {"error": "unsupported_grant_type"})
            return
        username, password = field("username"), field("password")
        if username is None:
            username, password = self.basic()
        self.grant(field("service") or "", scopes, username, password)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    port, directory, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    key, cert = ensure_key_and_cert(directory)
    Handler.issuer = Issuer(key, cert, user, password)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
