#!/usr/bin/env python3
"""Builds domain/attribution/data/known_referrers.json from the public referrer lists.

    tools/known_referrers/build.py --snowplow referers.yml \
        --matomo-search SearchEngines.yml --matomo-social Socials.yml \
        --snowplow-revision b70173e --matomo-revision 3b3a82d \
        --version 2026-11-23 > domain/attribution/data/known_referrers.json

The inputs are Snowplow referer-parser's `resources/referers.yml` and Matomo's
searchengine-and-social-list `SearchEngines.yml` and `Socials.yml`. The output is the
data file referrald compiles in (docs/known-referrers.md says what each field means and how
conflicts between the lists are decided). The same inputs give the same bytes.
"""

import argparse
import json
import re
import sys

import yaml

# Snowplow's sections and what referrald makes of them: (category, medium).
SNOWPLOW_SECTIONS = {
    "unknown": ("unknown", "referral"),
    "email": ("email", "email"),
    "social": ("social", "social"),
    "search": ("search", "organic"),
    "paid": ("paid", "display"),
    # "chatbot" is left to the AI-platform list (domain/ai/data/ai_platforms.json), which
    # decides before the known referrers.
}

# Canonical sources of the families the lists split by product: every Google search
# product is source "google" (as GA4 reports it), each entry keeping its own name.
FAMILY = [
    (re.compile(r"^google\b", re.I), "google"),
    (re.compile(r"^bing\b", re.I), "bing"),
    (re.compile(r"^yahoo!?( |$)", re.I), "yahoo"),
    (re.compile(r"^yandex\b", re.I), "yandex"),
    (re.compile(r"^baidu\b", re.I), "baidu"),
    (re.compile(r"^naver\b", re.I), "naver"),
    (re.compile(r"^daum\b", re.I), "daum"),
    (re.compile(r"^aol\b", re.I), "aol"),
    (re.compile(r"^ask\b", re.I), "ask"),
    (re.compile(r"^duckduckgo\b", re.I), "duckduckgo"),
]
# Names whose own product is not the family's search: kept apart.
OWN_SOURCE = {
    "Yahoo! Mail": "yahoo-mail",
    "Google Mail": "gmail",
    "Gmail": "gmail",
    "Outlook.com": "outlook",
    "Twitter": "twitter",
    "X": "twitter",
}

# Video and shopping sites, which GA4's default channel group tells apart from social and
# search ("Organic Video", "Organic Shopping"): referrald's own short list, following the
# categories GA4 publishes for its channel lists. (source, name, category, medium, hosts)
GA4_CATEGORIES = [
    ("youtube", "YouTube", "video", "video", ["youtube.com", "youtu.be", "youtube-nocookie.com"]),
    ("vimeo", "Vimeo", "video", "video", ["vimeo.com"]),
    ("dailymotion", "Dailymotion", "video", "video", ["dailymotion.com", "dai.ly"]),
    ("twitch", "Twitch", "video", "video", ["twitch.tv"]),
    ("wistia", "Wistia", "video", "video", ["wistia.com", "wistia.net"]),
    ("ted", "TED", "video", "video", ["ted.com"]),
    ("netflix", "Netflix", "video", "video", ["netflix.com"]),
    ("amazon", "Amazon", "shopping", "shopping", ["amazon.{}"]),
    ("ebay", "eBay", "shopping", "shopping", ["ebay.{}"]),
    ("etsy", "Etsy", "shopping", "shopping", ["etsy.com"]),
    ("walmart", "Walmart", "shopping", "shopping", ["walmart.com"]),
    ("aliexpress", "AliExpress", "shopping", "shopping", ["aliexpress.com", "aliexpress.ru"]),
    ("alibaba", "Alibaba", "shopping", "shopping", ["alibaba.com"]),
    ("shopify", "Shopify", "shopping", "shopping", ["shopify.com", "shop.app"]),
    ("mercadolibre", "Mercado Libre", "shopping", "shopping", ["mercadolibre.{}", "mercadolivre.com.br"]),
    ("rakuten", "Rakuten", "shopping", "shopping", ["rakuten.{}"]),
    ("target", "Target", "shopping", "shopping", ["target.com"]),
    ("bestbuy", "Best Buy", "shopping", "shopping", ["bestbuy.com"]),
    ("idealo", "idealo", "shopping", "shopping", ["idealo.{}"]),
    ("google-shopping", "Google Shopping", "shopping", "shopping", ["shopping.google.com"]),
]

# Ad and campaign click ids: (name, source, medium, paid, platform, where it is documented).
# A paid id gives medium "cpc" (GA4 reads it as paid); fbclid and igshid are added to every
# outbound link of Facebook and Instagram, organic or not, so they name the source only.
CLICK_IDS = [
    ("gclid", "google", "cpc", True, "Google Ads", "Google Ads Help: About auto-tagging"),
    ("gbraid", "google", "cpc", True, "Google Ads (iOS app campaigns)", "Google Ads Help: About auto-tagging"),
    ("wbraid", "google", "cpc", True, "Google Ads (iOS web campaigns)", "Google Ads Help: About auto-tagging"),
    ("gad_source", "google", "cpc", True, "Google Ads", "Google Ads Help: About auto-tagging"),
    ("dclid", "google", "display", True, "Google Display & Video 360, Campaign Manager 360",
     "Campaign Manager 360 Help: About the dclid parameter"),
    ("msclkid", "bing", "cpc", True, "Microsoft Advertising", "Microsoft Advertising Help: What is auto-tagging"),
    ("yclid", "yandex", "cpc", True, "Yandex Direct", "Yandex Direct Help: yclid"),
    ("fbclid", "facebook", "social", False, "Meta (every outbound Facebook link)",
     "Meta for Developers: Facebook click id (fbclid)"),
    ("igshid", "instagram", "social", False, "Instagram (shared links)", "PostHog campaign parameters"),
    ("ttclid", "tiktok", "cpc", True, "TikTok Ads", "TikTok Ads Manager: About the TikTok click ID"),
    ("li_fat_id", "linkedin", "cpc", True, "LinkedIn Ads", "LinkedIn Marketing: first-party cookie li_fat_id"),
    ("twclid", "twitter", "cpc", True, "X (Twitter) Ads", "X Business: click ID (twclid)"),
    ("epik", "pinterest", "cpc", True, "Pinterest Ads", "Pinterest Business Help: epik click id"),
    ("rdt_cid", "reddit", "cpc", True, "Reddit Ads", "Reddit Ads Help: click ID (rdt_cid)"),
    ("sccid", "snapchat", "cpc", True, "Snapchat Ads", "Snapchat Business Help: click ID (ScCid)"),
    ("qclid", "quora", "cpc", True, "Quora Ads", "PostHog campaign parameters"),
    ("irclickid", "impact", "affiliate", False, "impact.com (affiliate networks)", "PostHog campaign parameters"),
    ("mc_cid", "mailchimp", "email", False, "Mailchimp campaigns", "PostHog campaign parameters"),
    ("_kx", "klaviyo", "email", False, "Klaviyo emails", "PostHog campaign parameters"),
]

HOST_RE = re.compile(r"^[a-z0-9.-]+(\.\{\})?(/[^ ]*)?$")


def slug(name):
    s = name.lower().replace("!", "").replace("&", "and").replace("+", "-plus")
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s or "unnamed"


def source_of(name, category="search"):
    if name in OWN_SOURCE:
        return OWN_SOURCE[name]
    if category not in ("search", "paid", "unknown"):
        return slug(name)  # "Google+" is a social network of its own
    for pattern, family in FAMILY:
        if pattern.search(name):
            return family
    return slug(name)


def host_of(pattern):
    """A list's host pattern as referrald stores it, or None when it cannot be one.

    "www." is dropped (referrald normalizes referrer hosts so); "{}.example.com" (any
    subdomain) is "example.com", whose subdomains match anyway; "example.{}" stays (any
    public suffix); any other use of "{}" cannot be expressed and is skipped."""
    p = pattern.strip().lower()
    if p.startswith("{}."):
        p = p[3:]
    if p.startswith("www.") and p.count(".") >= 2:
        p = p[4:]
    p = p.rstrip("/")
    if "{}" in p and not p.split("/")[0].endswith(".{}"):
        return None
    if not HOST_RE.match(p) or "." not in p.split("/")[0]:
        return None
    return p


class Builder:
    def __init__(self):
        self.entries = []  # in order of first appearance
        self.by_key = {}  # (category, name lowercased) -> entry
        self.owner = {}  # host or host/path -> entry
        self.conflicts = []
        self.skipped = []

    def entry(self, name, category, medium, source=None):
        # A site GA4 counts as video or shopping is that whatever the other lists say.
        ga4 = self.by_key.get(("ga4", source or source_of(name, category)))
        if ga4 is not None:
            return ga4
        key = (category, name.lower())
        e = self.by_key.get(key)
        if e is None:
            e = {
                "source": source or source_of(name, category),
                "name": name,
                "category": category,
                "medium": medium,
                "hosts": [],
                "paths": [],
                "search_params": [],
                "lists": [],
            }
            self.by_key[key] = e
            self.entries.append(e)
        return e

    def add_host(self, e, pattern, list_id):
        h = host_of(pattern)
        if h is None:
            self.skipped.append((list_id, e["name"], pattern))
            return
        owner = self.owner.get(h)
        if owner is not None and owner is not e:
            self.conflicts.append((h, owner["name"], e["name"], list_id))
            return
        self.owner[h] = e
        field = "paths" if "/" in h else "hosts"
        if h not in e[field]:
            e[field].append(h)
        if list_id not in e["lists"]:
            e["lists"].append(list_id)

    def add_params(self, e, params):
        for p in params or []:
            p = str(p)
            if p.startswith("/") or not re.match(r"^[A-Za-z0-9_.\-\[\]]+$", p):
                continue  # a regular expression over the path: not read by referrald
            if p.lower() not in (q.lower() for q in e["search_params"]):
                e["search_params"].append(p)


def build(args):
    b = Builder()
    # 1. GA4's video and shopping categories first: their category wins over "social" or
    #    "search" in the other lists.
    for source, name, category, medium, hosts in GA4_CATEGORIES:
        e = b.entry(name, category, medium, source)
        b.by_key[("ga4", source)] = e
        for h in hosts:
            b.add_host(e, h, "ga4")
    # 2. Snowplow: every category, names as it spells them.
    with open(args.snowplow, encoding="utf-8") as f:
        snowplow = yaml.safe_load(f)
    for section, (category, medium) in SNOWPLOW_SECTIONS.items():
        for name, body in (snowplow.get(section) or {}).items():
            e = b.entry(name, category, medium)
            for d in body.get("domains") or []:
                b.add_host(e, d, "snowplow")
            b.add_params(e, body.get("parameters"))
    # 3. Matomo's search engines and social networks: hosts the others lack.
    with open(args.matomo_search, encoding="utf-8") as f:
        matomo_search = yaml.safe_load(f)
    for name, variants in matomo_search.items():
        name = str(name)
        for v in variants or []:
            e = b.entry(name, "search", "organic")
            for u in v.get("urls") or []:
                b.add_host(e, u, "matomo")
            b.add_params(e, v.get("params"))
    with open(args.matomo_social, encoding="utf-8") as f:
        matomo_social = yaml.safe_load(f)
    for name, urls in matomo_social.items():
        e = b.entry(str(name), "social", "social")
        for u in urls or []:
            b.add_host(e, u, "matomo")
    entries = [e for e in b.entries if e["hosts"] or e["paths"]]
    for e in entries:
        if not e["paths"]:
            del e["paths"]
        if not e["search_params"]:
            del e["search_params"]
    out = {
        "version": args.version,
        "lists": [
            {"id": "snowplow", "origin": "snowplow-referer-parser/referer-parser resources/referers.yml",
             "revision": args.snowplow_revision},
            {"id": "matomo", "origin": "matomo-org/searchengine-and-social-list SearchEngines.yml, Socials.yml",
             "revision": args.matomo_revision},
            {"id": "ga4", "origin": "referrald's video and shopping sites, after GA4's source categories",
             "revision": args.version},
        ],
        "click_ids": [{"name": n, "source": src, "medium": m, "paid": paid, "platform": pl,
                       "documentation": doc} for n, src, m, paid, pl, doc in CLICK_IDS],
        "referrers": entries,
    }
    lines = ["{"]
    lines.append('"version": %s,' % json.dumps(out["version"]))
    lines.append('"lists": [')
    lines.append(",\n".join(json.dumps(l, ensure_ascii=False) for l in out["lists"]))
    lines.append("],")
    lines.append('"click_ids": [')
    lines.append(",\n".join(json.dumps(c, ensure_ascii=False) for c in out["click_ids"]))
    lines.append("],")
    lines.append('"referrers": [')
    lines.append(",\n".join(json.dumps(e, ensure_ascii=False) for e in entries))
    lines.append("]")
    lines.append("}")
    sys.stdout.write("\n".join(lines) + "\n")
    print("%d referrers, %d hosts; %d hosts claimed twice (the first list kept), %d patterns "
          "skipped" % (len(entries), sum(len(e["hosts"]) + len(e.get("paths", [])) for e in entries),
                       len(b.conflicts), len(b.skipped)), file=sys.stderr)
    if args.verbose:
        for c in b.conflicts:
            print("claimed twice: %s by %s, then %s (%s)" % c, file=sys.stderr)
        for s in b.skipped:
            print("skipped: %s %s %r" % s, file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snowplow", required=True)
    p.add_argument("--matomo-search", required=True)
    p.add_argument("--matomo-social", required=True)
    p.add_argument("--snowplow-revision", required=True)
    p.add_argument("--matomo-revision", required=True)
    p.add_argument("--version", required=True, help="the data file's version (a date)")
    p.add_argument("--verbose", action="store_true", help="list every conflict and skipped pattern")
    build(p.parse_args())


if __name__ == "__main__":
    main()
