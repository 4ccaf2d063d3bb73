#!/usr/bin/env python3
"""Checks that every relative link and #anchor in the given Markdown files resolves.

  check_links.py FILE.md...

Anchors follow GitHub's rules: a heading's rendered text, lowercased, with every character
that is not a letter, digit, space, hyphen or underscore removed and spaces made hyphens; a
repeated slug gets -1, -2...; <a id="..."> / <a name="..."> count too. Fenced code blocks
and code spans are skipped. Exits 1 naming each broken link."""
import os, re, sys, unicodedata

def strip_inline(text):
    text = re.sub(r'!\[([^\]]*)\]\([^)]*\)', r'\1', text)      # images -> alt
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)       # links -> text
    text = re.sub(r'<[^>]+>', '', text)                          # html tags
    text = text.replace('`', '')
    text = re.sub(r'(\*\*|__|\*|_(?=\S)|(?<=\S)_)', lambda m: '' if m.group(0) in ('**', '__', '*') else m.group(0), text)
    return text

def slug(text):
    text = strip_inline(text).strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in ' -_' or cat[0] in 'LN' or cat == 'Mn':
            out.append('-' if ch == ' ' else ch)
    return ''.join(out)

def lines_outside_code(path):
    fence = None
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        m = re.match(r'^\s*(```+|~~~+)', line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif line.strip().startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, line.rstrip('\n')

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        seen, result = {}, set()
        for _, line in lines_outside_code(path):
            m = re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
            if m:
                base = slug(m.group(2))
                k = seen.get(base, 0)
                result.add(base if k == 0 else f'{base}-{k}')
                seen[base] = k + 1
            for a in re.findall(r'<a\s+(?:id|name)="([^"]+)"', line):
                result.add(a)
        anchor_cache[path] = result
    return anchor_cache[path]

link_re = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)')
bad = 0
checked = 0
for path in sys.argv[1:]:
    for n, line in lines_outside_code(path):
        line = re.sub(r'`[^`]*`', '', line)
        for target in link_re.findall(line):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
                continue  # http:, https:, mailto:...
            checked += 1
            file_part, _, frag = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.exists(dest):
                print(f'{path}:{n}: {target}: no file {dest}')
                bad += 1
                continue
            if frag:
                if not dest.endswith('.md'):
                    print(f'{path}:{n}: {target}: an anchor into a file that is not Markdown')
                    bad += 1
                elif frag not in anchors(dest):
                    print(f'{path}:{n}: {target}: no anchor #{frag} in {dest}')
                    bad += 1
        for ref in re.findall(r'\]\[[^\]]+\]', line):
            print(f'{path}:{n}: reference-style link {ref}: not checked')
print(f'{checked} relative links checked, {bad} broken', file=sys.stderr)
if checked == 0:
    print('no relative link found: the files given hold none, or the link pattern broke', file=sys.stderr)
    sys.exit(1)
sys.exit(1 if bad else 0)
