#!/usr/bin/env python3
"""Checks the Grafana dashboard against the metrics the server really exposes.

    dashboard_check.py DASHBOARD.json SCRAPE [PROMTOOL]

DASHBOARD.json is docs/grafana-dashboard.json; SCRAPE is a /metrics scrape (the Prometheus
text format), whose `# TYPE name type` lines name the metric families the server exposes.

Every panel (those nested in rows too) must have a title and the datasource
${DS_PROMETHEUS}; the dashboard must have a uid, a title, panels and the DS_PROMETHEUS
input. Every metric named in a target's expr or a template variable's query
(referrald_* and process_*) must be a family of SCRAPE, a histogram's _bucket, _sum or
_count series counting as its family, unless it is one of the gauges /metrics shows only in
cluster mode. Every expr must have balanced (), [] and {} and closed strings, and its range
selectors must be [$__rate_interval] or [$__range]. With PROMTOOL (a path to Prometheus's
promtool), every expr, its Grafana variables replaced, must also parse as PromQL.

Exits 1 with a message per problem; prints a one-line summary on success. Python 3
standard library only.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

DATASOURCE = "${DS_PROMETHEUS}"
# Exposed by /metrics only in cluster mode (http/handlers.cpp, metrics()).
CLUSTER_ONLY = {
    "referrald_cluster_apply_lag_seconds",
    "referrald_cluster_connected",
    "referrald_cluster_applied_seq",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
RANGES = {"$__rate_interval", "$__range"}
METRIC = re.compile(r"(?<![A-Za-z0-9_:])((?:referrald|process)_[a-z0-9_]+)")


def scrape_families(path):
    """{family: type} from the `# TYPE` lines of a scrape."""
    families = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "#" and parts[1] == "TYPE":
                families[parts[2]] = parts[3]
    return families


def walk_panels(panels, parents=()):
    """Yields (panel, where) for every panel, those nested in rows included."""
    for i, p in enumerate(panels):
        title = p.get("title") if isinstance(p, dict) else None
        where = " > ".join(parents + (repr(title) if title else "panel #%d" % i,))
        yield p, where
        if isinstance(p, dict) and isinstance(p.get("panels"), list):
            yield from walk_panels(p["panels"], parents + (repr(title) if title else "row #%d" % i,))


def is_our_datasource(ds):
    if isinstance(ds, str):
        return ds == DATASOURCE
    return isinstance(ds, dict) and ds.get("uid") == DATASOURCE


def syntax_problems(expr):
    """Unbalanced brackets, unclosed strings and range selectors other than RANGES."""
    problems = []
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    range_start = None
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            end = i + 1
            while end < len(expr) and expr[end] != c:
                end += 2 if expr[end] == "\\" and c != "`" else 1
            if end >= len(expr):
                problems.append("an unclosed string from column %d" % (i + 1))
                return problems
            i = end + 1
            continue
        if c == "#":  # a PromQL comment runs to the end of the line
            nl = expr.find("\n", i)
            i = len(expr) if nl < 0 else nl
            continue
        if c in "([{":
            stack.append(c)
            if c == "[":
                range_start = i + 1
        elif c in ")]}":
            if not stack or stack[-1] != pairs[c]:
                problems.append("an unmatched %r at column %d" % (c, i + 1))
                return problems
            stack.pop()
            if c == "]" and range_start is not None:
                window = expr[range_start:i].strip()
                if window not in RANGES:
                    problems.append("the range [%s] (use [$__rate_interval] or [$__range])" % window)
                range_start = None
        i += 1
    if stack:
        problems.append("unclosed %s" % " ".join(repr(c) for c in stack))
    return problems


def family_problem(name, families):
    """None when NAME is exposed (as a family or a histogram's series), else why not."""
    if name in CLUSTER_ONLY:
        return None
    kind = families.get(name)
    if kind in ("histogram", "summary"):
        return "%s is a %s: use its _bucket, _sum or _count series" % (name, kind)
    if kind is not None:
        return None
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            family = name[: -len(suffix)]
            kind = families.get(family)
            if kind in ("histogram", "summary") and not (kind == "summary" and suffix == "_bucket"):
                return None
            if kind is not None:
                return "%s: %s is a %s, which has no %s series" % (name, family, kind, suffix)
            return "%s (family %s) is not exposed by the server" % (name, family)
    return "%s is not exposed by the server" % name


def promtool_problems(promtool, exprs):
    """Parses every expr with `promtool check rules`, Grafana's variables replaced."""
    def concrete(expr):
        expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
        return re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?", ".+", expr)

    rules = [{"record": "dashboard:expr_%d" % n, "expr": concrete(e)} for n, (_, e) in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        path = f.name
    try:
        run = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if run.returncode == 0:
        return []
    out = (run.stdout + run.stderr).strip()
    problems = []
    for m in re.finditer(r"expr_(\d+)", out):
        where, expr = exprs[int(m.group(1))]
        problems.append("%s: promtool cannot parse %r" % (where, expr))
    return problems + ["promtool check rules: " + out]


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: dashboard_check.py DASHBOARD.json SCRAPE [PROMTOOL]", file=sys.stderr)
        return 2
    dashboard_path, scrape_path = argv[1], argv[2]
    promtool = argv[3] if len(argv) == 4 else None
    try:
        with open(dashboard_path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        print("dashboard_check: cannot read %s: %s" % (dashboard_path, e), file=sys.stderr)
        return 1
    try:
        families = scrape_families(scrape_path)
    except OSError as e:
        print("dashboard_check: cannot read %s: %s" % (scrape_path, e), file=sys.stderr)
        return 1

    problems = []
    if not families:
        problems.append("%s has no '# TYPE' lines" % scrape_path)
    if not isinstance(dash, dict):
        print("dashboard_check: %s is not a JSON object" % dashboard_path, file=sys.stderr)
        return 1
    for key in ("uid", "title"):
        if not isinstance(dash.get(key), str) or not dash[key].strip():
            problems.append("the dashboard has no %s" % key)
    panels = dash.get("panels")
    if not isinstance(panels, list) or not panels:
        problems.append("the dashboard has no panels")
        panels = []
    inputs = dash.get("__inputs") or []
    if not any(isinstance(i, dict) and i.get("name") == "DS_PROMETHEUS"
               and i.get("pluginId") == "prometheus" for i in inputs):
        problems.append("__inputs has no Prometheus datasource input DS_PROMETHEUS")

    exprs = []  # (where, expr)
    ids = {}
    n_panels = 0
    for panel, where in walk_panels(panels):
        n_panels += 1
        if not isinstance(panel, dict):
            problems.append("%s: not a JSON object" % where)
            continue
        if not isinstance(panel.get("title"), str) or not panel["title"].strip():
            problems.append("%s: no title" % where)
        if not is_our_datasource(panel.get("datasource")):
            problems.append("%s: datasource %s, not %s" % (where, json.dumps(panel.get("datasource")), DATASOURCE))
        if "id" in panel:
            if panel["id"] in ids:
                problems.append("%s: id %s is also the id of %s" % (where, panel["id"], ids[panel["id"]]))
            ids[panel["id"]] = where
        targets = panel.get("targets") or []
        if panel.get("type") != "row" and not targets:
            problems.append("%s: no targets" % where)
        for t in targets:
            ref = "%s, target %s" % (where, t.get("refId", "?"))
            if "datasource" in t and not is_our_datasource(t["datasource"]):
                problems.append("%s: datasource %s, not %s" % (ref, json.dumps(t["datasource"]), DATASOURCE))
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append("%s: no expr" % ref)
                continue
            exprs.append((ref, expr))

    for var in (dash.get("templating") or {}).get("list") or []:
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and isinstance(query, str):
            where = "variable $%s" % var.get("name")
            if not is_our_datasource(var.get("datasource")):
                problems.append("%s: datasource %s, not %s" % (where, json.dumps(var.get("datasource")), DATASOURCE))
            for name in METRIC.findall(query):
                why = family_problem(name, families)
                if why:
                    problems.append("%s: %s" % (where, why))

    used = set()
    for ref, expr in exprs:
        for why in syntax_problems(expr):
            problems.append("%s: %s in %r" % (ref, why, expr))
        names = METRIC.findall(expr)
        if not names:
            problems.append("%s: names no referrald_ or process_ metric: %r" % (ref, expr))
        for name in names:
            why = family_problem(name, families)
            if why:
                problems.append("%s: %s" % (ref, why))
            else:
                used.add(name)

    if promtool and exprs and not problems:
        problems.extend(promtool_problems(promtool, exprs))

    problems = list(dict.fromkeys(problems))  # once each, in order
    if problems:
        for p in problems:
            print("dashboard_check: " + p, file=sys.stderr)
        print("dashboard_check: %d problem(s) in %s" % (len(problems), dashboard_path), file=sys.stderr)
        return 1

    def family(name):
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in families:
                return name[: -len(suffix)]
        return name

    used_families = {family(n) for n in used}
    cluster = used_families & CLUSTER_ONLY
    print("dashboard_check: %s: %d panels, %d expressions, %d metric families, all exposed in %s "
          "(%d cluster-only)%s" % (dashboard_path, n_panels, len(exprs), len(used_families), scrape_path,
                                   len(cluster), "; promtool parses every expression" if promtool else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
