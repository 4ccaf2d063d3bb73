#!/usr/bin/env python3
"""Scores referrald's answers against Snowplow referer-parser's test suite.

    tools/known_referrers/score.py --tests referer-tests.json \
        --url http://127.0.0.1:8080 --key ADMIN_KEY [--account score] [--verbose]

Sends every test's `uri` as the referrer of a visit to a landing page of an unrelated site
(POST /attribution/resolve-batch, an account without rules) and counts the tests whose
medium and whose source name referrald gets right. Snowplow's media map onto referrald's:
search = organic, social = social, email = email, paid = display or cpc, chatbot = ai;
the source name is the known referrer's `name` (or the AI platform's name), compared
ignoring case. Prints the counts; exits 0.
"""

import argparse
import json
import urllib.request

MEDIUM = {"organic": "search", "social": "social", "email": "email", "display": "paid",
          "cpc": "paid", "ai": "chatbot", "video": "video", "shopping": "shopping"}


def call(args, method, path, body=None):
    req = urllib.request.Request(args.url.rstrip("/") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + args.key)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tests", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--account", default="score")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    tests = json.load(open(args.tests, encoding="utf-8"))
    ai_names = {a["id"]: a["name"] for a in call(args, "GET", "/ai-platforms")["data"]["platforms"]}
    visits = [{"referrer": t["uri"], "landing_url": "https://score.example/"} for t in tests]
    results = call(args, "POST", "/attribution/resolve-batch?account_id=" + args.account,
                   {"visits": visits})["data"]["results"]
    medium_ok = source_ok = both = 0
    for t, r in zip(tests, results):
        got_medium = MEDIUM.get(r.get("utm_medium"), r.get("utm_medium"))
        name = (r.get("known_referrer") or {}).get("name") or ai_names.get(r.get("ai_platform") or "", "")
        m = got_medium == t["medium"]
        s = name.lower() == t["source"].lower()
        medium_ok += m
        source_ok += s
        both += m and s
        if args.verbose and not (m and s):
            print("%-8s %-22s got %-10s %-24s %s" % (t["medium"], t["source"], r.get("utm_medium"),
                                                   name or "-", t["uri"][:70]))
    n = len(tests)
    print("%d referrers: medium right %d, source name right %d, both %d" % (n, medium_ok, source_ok, both))


if __name__ == "__main__":
    main()
