#!/usr/bin/env python3
"""Fails on any broken internal link of the built site: every relative href/src of every page
must name a file that exists (fragments and queries ignored). External links are not fetched."""
import os
import sys
from html.parser import HTMLParser
from urllib.parse import urlsplit, unquote

root = sys.argv[1] if len(sys.argv) > 1 else "site/target/site"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


broken = []
pages = 0
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".html"):
            continue
        pages += 1
        path = os.path.join(dirpath, f)
        parser = Links()
        with open(path, encoding="utf-8", errors="replace") as fh:
            parser.feed(fh.read())
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("#") or link.startswith("mailto:"):
                continue
            target = os.path.normpath(os.path.join(dirpath, unquote(parts.path)))
            if parts.path.endswith("/") or os.path.isdir(target):
                target = os.path.join(target, "index.html")
            if not os.path.exists(target):
                broken.append(f"{os.path.relpath(path, root)}: {link}")
if pages == 0:
    print(f"no pages under {root}: build the site first", file=sys.stderr)
    sys.exit(1)
for b in broken:
    print("broken link:", b, file=sys.stderr)
print(f"{pages} pages, {len(broken)} broken internal links")
sys.exit(1 if broken else 0)
