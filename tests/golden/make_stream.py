#!/usr/bin/env python3
"""Writes a golden set of cluster stream messages: a referrald node of one release, on a
nats-server of its own, takes a fixed series of API calls; every message of its stream is
then dumped (subject, headers, payload) with what the node answered to a few reads.

    tests/golden/make_stream.py REFERRALD_BINARY OUT_DIR

OUT_DIR gets messages.jsonl (one message per line, in stream order: seq, subject, and the
header block and payload in base64) and expected.jsonl (path and the `data` the node
answered; last_used_at left out, which later releases record in cluster mode). Write a new
directory for a new release, never over an old one. tests/cluster/golden_stream_test.cpp
applies each directory with the current release.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN = "rk_test_admin_secret_0123456789abcdef"  # tests/support/server_process.hpp


def nats_server():
    """The NATS server, found as tools/nats_server.sh finds it: $REFERRALD_NATS_SERVER, else
    the project's copy in build/tools/, else the system's."""
    if os.environ.get("REFERRALD_NATS_SERVER"):
        return os.environ["REFERRALD_NATS_SERVER"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "tools", "nats_server.sh")) as f:
        version = next(line.split("=", 1)[1].strip() for line in f
                       if line.startswith("nats_server_version="))
    own = os.path.join(root, "build", "tools", "nats-server-" + version, "usr", "sbin", "nats-server")
    if os.access(own, os.X_OK):
        return own
    for path in ("/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if os.access(path, os.X_OK):
            return path
    return "nats-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + ADMIN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def stream_messages(port, stream):
    """Every message of `stream` read by sequence through the JetStream API."""
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.golden 1\r\n')
    out, seq = [], 1
    while True:
        req = json.dumps({"seq": seq}).encode()
        s.sendall(b"PUB $JS.API.STREAM.MSG.GET.%s _INBOX.golden %d\r\n%s\r\n"
                  % (stream.encode(), len(req), req))
        while True:
            line = f.readline()
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"MSG"):
                size = int(line.split()[-1])
                reply = json.loads(f.read(size + 2)[:size])
                break
        if "error" in reply:
            return out
        m = reply["message"]
        out.append({"seq": m["seq"], "subject": m["subject"], "headers": m.get("hdrs", ""),
                    "data": m.get("data", "")})
        seq += 1


def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k != "last_used_at"}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def main():
    binary, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=False)
    work = tempfile.mkdtemp()
    nats_port, http_port = free_port(), free_port()
    with open(os.path.join(work, "nats.conf"), "w") as c:
        c.write('listen: 127.0.0.1:%d\njetstream { store_dir: "%s/js" }\n' % (nats_port, work))
    nats = subprocess.Popen([nats_server(), "-c", os.path.join(work, "nats.conf")])
    time.sleep(1)
    env = dict(os.environ, REFERRALD_BOOTSTRAP_KEY=ADMIN)
    node = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % http_port, "--data",
                             os.path.join(work, "data"), "--cluster",
                             "nats://127.0.0.1:%d" % nats_port, "--node-name", "golden"],
                            env=env)
    try:
        base = "http://127.0.0.1:%d" % http_port
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        steps = [
            ("POST", "/passthrough-referrers?account_id=acme",
             {"domain": "paypal.com", "utm_source": "paypal", "utm_medium": "payment"}),
            ("POST", "/passthrough-referrers?account_id=acme",
             {"domain": "checkout.stripe.com", "utm_source": "stripe"}),
            ("PATCH", "/passthrough-referrers/2?account_id=acme", {"utm_campaign": "spring"}),
            ("POST", "/referrer-mappings?account_id=acme",
             {"referrer_pattern": "partner-site.com", "match_type": "ends_with",
              "utm_source": "partner-site", "label": "Partner Site Traffic", "priority": 100}),
            ("POST", "/referrer-mappings?account_id=acme",
             {"referrer_pattern": "^portal[0-9]+\\.vendor\\.com$", "match_type": "regex",
              "utm_source": "vendor"}),
            ("DELETE", "/referrer-mappings/1?account_id=acme", None),
            ("POST", "/referrer-mappings?account_id=globex-2",
             {"referrer_pattern": "news.example", "match_type": "exact", "utm_source": "news"}),
            ("POST", "/api-keys",
             {"name": "tracker", "role": "viewer", "accounts": ["acme"], "brands": [42]}),
            ("POST", "/api-keys", {"name": "old", "role": "editor", "accounts": ["acme"], "brands": []}),
            ("DELETE", "/api-keys/3", None),
            ("POST", "/42/ai-referrals/connections", {"name": "GA4 export", "source_tool": "ga4"}),
        ]
        for method, path, body in steps:
            status, answer = call(base, method, path, body)
            print(method, path, status, file=sys.stderr)
            assert status < 300, (method, path, status, answer)
            if path == "/42/ai-referrals/connections":
                conn = answer["data"]["id"]
        rows = [{"date": "2026-11-20", "raw_referrer_value": "https://chatgpt.com/",
                 "raw_page_value": "https://shop.example/pricing?utm_source=chatgpt.com",
                 "pageviews": 12, "sessions": 9, "transactions": 1, "purchase_revenue": 49.9,
                 "batch_id": "2026-11-20-a"},
                {"date": "2026-11-20", "raw_referrer_value": "perplexity",
                 "raw_page_value": "/blog/post", "pageviews": 3, "sessions": 3}]
        status, answer = call(base, "POST", "/42/ai-referrals/connections/%s/events" % conn, rows)
        assert status < 300, (status, answer)
        reads = [
            "/passthrough-referrers?account_id=acme&include_inactive=true",
            "/referrer-mappings?account_id=acme&include_inactive=true",
            "/referrer-mappings?account_id=globex-2",
            "/api-keys",
            "/api-keys?is_active=false",
            "/42/ai-referrals/connections",
            "/42/ai-referrals/report?from=2026-11-01&to=2026-11-30&group_by=platform",
            "/audit-log?scope=keys&limit=50",
            "/audit-log?account_id=acme&limit=50",
        ]
        time.sleep(1)
        with open(os.path.join(out_dir, "expected.jsonl"), "w") as e:
            for path in reads:
                status, answer = call(base, "GET", path)
                assert status == 200, (path, status, answer)
                e.write(json.dumps({"path": path, "data": strip(answer["data"])},
                                   separators=(",", ":")) + "\n")
        with open(os.path.join(out_dir, "messages.jsonl"), "w") as m:
            for message in stream_messages(nats_port, "REFERRALD"):
                m.write(json.dumps(message, separators=(",", ":")) + "\n")
    finally:
        node.terminate()
        node.wait()
        nats.terminate()
        nats.wait()


if __name__ == "__main__":
    main()
