#!/usr/bin/env python3
"""The hostile-client measurements of one running server (tools/bench/hostile.sh).

  hostile.py URL KEY PID RULES tenants|memory

tenants: on account "evil", RULES regex channel rules that each stay just under PCRE2's
match limit on a host of 21 a's, then
  1. the worst of 5 single resolves of the costly visit, and its warning;
  2. another account's trivial resolve, 40 times, while 4 clients send the costly visit in a
     loop: its median and worst latency;
  3. two 8-visit NDJSON batches of the costly visit at once: their time and status.
memory: on account "big", 1,000 mappings and 1,000 passthrough referrers (explain answers of
about 170 KB a visit); three clients send a 150 KB NDJSON explain batch and never read: the
server's resident memory before and at most over 20 s, then whether one of them, reading at
last, gets its whole answer.
Prints one line per measurement. Talks to 127.0.0.1 only; every client stops by itself.
"""
import http.client
import json
import socket
import statistics
import sys
import threading
import time
import urllib.parse

url, key, pid, rules, part = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
parsed = urllib.parse.urlparse(url)
HOST, PORT = parsed.hostname, parsed.port
AUTH = {"Authorization": "Bearer " + key}
COSTLY = {"referrer": "https://" + "a" * 21 + ".example/", "landing_url": "https://h.example/"}
TRIVIAL = {"referrer": "https://pay.example.com/", "landing_url": "https://h.example/"}


def request(method, path, body=None, content_type="application/json", timeout=120):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    headers = dict(AUTH)
    if body is not None:
        headers["Content-Type"] = content_type
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        return res.status, data, time.monotonic() - started
    except (http.client.HTTPException, OSError) as e:
        return 0, str(e).encode(), time.monotonic() - started
    finally:
        conn.close()


def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def setup_tenants():
    for start in range(0, rules, 10000):
        rows = [{"name": f"slow {i}", "channel": "Slow",
                 "referrer_pattern": f"^(a|aa)+[0-9]?$(?#{i})", "match_type": "regex"}
                for i in range(start, min(rules, start + 10000))]
        status, data, _ = request("POST", "/channel-rules/import?account_id=evil",
                                  {"mode": "upsert", "channel_rules": rows})
        assert status == 200, data[:300]
    status, data, _ = request("POST", "/passthrough-referrers?account_id=good",
                              {"domain": "pay.example.com", "utm_source": "pay"})
    assert status == 201, data[:300]
    request("POST", "/attribution/resolve?account_id=good", TRIVIAL)


def setup_memory():
    mappings = [{"referrer_pattern": f"partner-{i}.example", "match_type": "ends_with",
                 "utm_source": f"p{i}"} for i in range(1000)]
    referrers = [{"domain": f"pay-{i}.example", "utm_source": "pay"} for i in range(1000)]
    assert request("POST", "/referrer-mappings/import?account_id=big",
                   {"mode": "upsert", "mappings": mappings})[0] == 200
    assert request("POST", "/passthrough-referrers/import?account_id=big",
                   {"mode": "upsert", "referrers": referrers})[0] == 200


def single_resolves():
    times, warning = [], ""
    for _ in range(5):
        status, data, took = request("POST", "/attribution/resolve?account_id=evil", COSTLY)
        times.append(took)
        if status == 200:
            warnings = json.loads(data)["data"]["warnings"]
            warning = warnings[0] if warnings else "(no warning)"
    print(f"single resolve of the costly visit: worst {max(times) * 1000:.1f} ms, "
          f"best {min(times) * 1000:.1f} ms; warning: {warning[:160]}")


def latency_under_attack():
    stop = threading.Event()
    attacks = [0]

    def attack():
        while not stop.is_set():
            request("POST", "/attribution/resolve?account_id=evil", COSTLY)
            attacks[0] += 1

    threads = [threading.Thread(target=attack) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    times = []
    for _ in range(40):
        status, _, took = request("POST", "/attribution/resolve?account_id=good", TRIVIAL)
        times.append(took if status == 200 else float("inf"))
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    print(f"another account's resolve under 4 concurrent attacks: median "
          f"{statistics.median(times) * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms "
          f"({attacks[0]} attack requests answered meanwhile)")


def ndjson_batches():
    body = "".join(json.dumps(COSTLY) + "\n" for _ in range(8))
    results = [None, None]

    def run(i):
        results[i] = request("POST", "/attribution/resolve-batch?account_id=evil", body,
                             "application/x-ndjson")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("two 8-visit NDJSON batches of the costly visit at once: " +
          ", ".join(f"{r[0]} in {r[2]:.2f} s" for r in results))


def non_reading_clients():
    lines = "".join(json.dumps({"referrer": "https://shop.partner-7.example/",
                                "landing_url": "https://h.example/"}) + "\n" for _ in range(1800))
    head = (f"POST /attribution/resolve-batch?account_id=big&explain=true HTTP/1.1\r\n"
            f"Host: {HOST}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/x-ndjson\r\nConnection: close\r\n"
            f"Content-Length: {len(lines)}\r\n\r\n")
    before = rss_mb()
    socks = []
    for _ in range(3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, PORT))
        s.sendall((head + lines).encode())
        socks.append(s)
    most = before
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        most = max(most, rss_mb())
        time.sleep(0.25)
    # One reads at last: is its answer whole (the last chunk after 1,800 lines)?
    s = socks[0]
    s.settimeout(60)
    got = bytearray()
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got.extend(chunk)
    except OSError:
        pass
    whole = got.endswith(b"0\r\n\r\n") and got.count(b'{"utm_source"') == 1800
    for s in socks:
        s.close()
    print(f"three clients that do not read a {len(lines) // 1024} KB explain batch: RSS "
          f"{before:.0f} MB before, {most:.0f} MB at most over 20 s; the one that read at last "
          f"got {len(got) / 1e6:.1f} MB, {'whole' if whole else 'cut short'}")


if part == "tenants":
    setup_tenants()
    single_resolves()
    latency_under_attack()
    ndjson_batches()
else:
    setup_memory()
    non_reading_clients()
