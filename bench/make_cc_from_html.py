"""Builds a Common Crawl-like WARC and its WAT from real web pages (bench/html_corpus.py), so WAT
mode and WARC mode of `pairscope collect` can be checked against each other and against
cc2dataset on the same pages.

The WARC is laid out as Common Crawl's: a warcinfo record, then per page a request, a response
and a metadata record, each gzipped as its own member. Responses carry the page bytes with
real-looking HTTP headers: Content-Type with the charset the page declares (most of the time;
sometimes none, sometimes a conflicting one, as servers send), now and then `X-Robots-Tag` or
`tdm-reservation`; some pages get a `<meta name=robots|tdm-reservation>` put into their head.
Some UTF-8 pages are re-encoded into the legacy charset of their script (windows-1251, Shift_JIS,
GBK, EUC-KR, ...; characters it lacks become character references) and a few into UTF-16, so
charset decoding is exercised with real text.

The WAT is Common Crawl's JSON layout (Container, Envelope → WARC-Header-Metadata,
Payload-Metadata → HTTP-Response-Metadata → Response-Message, Headers, HTML-Metadata → Head
{Title, Metas, Link, Base}, Links [{path: "A@/href" | "IMG@/src" | ..., url, alt, text}]), with
Container.Offset the offset of the WARC member it describes. Its HTML metadata comes from
html5lib, an implementation of the WHATWG parsing algorithm (tokenizer, tree construction,
encoding sniffing) written independently of lol_html, which WARC mode uses: it decodes
attributes and character references as the spec says, builds the tree a browser would (an
`<img>` in `<noscript>` is an element, scripting being off), and picks the encoding by BOM, then
the transport charset, then a `<meta>` prescan, then windows-1252; chardet guessing is off. So
where the two parsers disagree on a page, one of them departs from the spec or from the other's
documented rules.

A manifest (JSON lines, one per page) says what the generator did and what html5lib saw: page
URL and offsets, the charset given in the header, declared in the page and used, what opt-outs
were injected and the opt-out flags the page ends up with, and every `<img>` with its src, alt,
lazy-loading attributes and the elements it sits in.

Usage: make_cc_from_html.py --out PREFIX [--corpus DIR] [--fetch] [--copies N | --min-bytes B]
                            [--seed S]
Writes PREFIX.warc.gz, PREFIX.warc.wat.gz and PREFIX.pages.jsonl; prints counts as JSON.
Same corpus, options and seed: the same bytes.
"""

import argparse
import base64
import email.utils
import hashlib
import json
import os
import random
import re
import sys
import time
import unicodedata
import uuid
import zlib

import html5lib
from html5lib._inputstream import HTMLBinaryInputStream, lookupEncoding

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import html_corpus  # noqa: E402

# Attributes lazy-loading scripts keep the real image URL in (what WARC mode reads besides src).
LAZY_ATTRS = ["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "srcset", "data-srcset"]
SVG = "{http://www.w3.org/2000/svg}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"

ROBOTS_META = ["noai", "noimageai", "noai, noimageai", "noindex, nofollow", "NOAI", "index,follow,noimageai"]
ROBOTS_HEADER = ["noai", "noimageai", "noai, noimageai", "noindex", "otherbot: noai", "none"]
SERVERS = ["nginx", "Apache", "Apache/2.4.41 (Ubuntu)", "cloudflare", "Microsoft-IIS/10.0", "LiteSpeed", "openresty"]
# The legacy encoding a page of a given script would have been served in.
LEGACY = {
    "CYRILLIC": ["windows-1251", "koi8-r"],
    "CJK": ["gbk", "big5"],
    "HIRAGANA": ["shift_jis", "euc-jp"],
    "KATAKANA": ["shift_jis", "euc-jp"],
    "HANGUL": ["euc-kr"],
    "GREEK": ["iso-8859-7"],
    "ARABIC": ["windows-1256"],
    "HEBREW": ["windows-1255"],
    "THAI": ["windows-874"],
    "LATIN": ["windows-1252", "iso-8859-2", "iso-8859-15"],
}


def gzip_member(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def sha1_b32(data):
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warc_record(fields, block):
    head = "WARC/1.0\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + f"Content-Length: {len(block)}\r\n"
    return head.encode() + b"\r\n" + block + b"\r\n\r\n"


class Writer:
    """A gzip-member-per-record file that knows each member's offset."""

    def __init__(self, path):
        self.tmp = path + ".tmp"
        self.path = path
        self.f = open(self.tmp, "wb")
        self.offset = 0
        self.records = 0
        self.inflated = 0

    def write(self, record):
        start = self.offset
        self.offset += self.f.write(gzip_member(record))
        self.records += 1
        self.inflated += len(record)
        return start

    def close(self):
        self.f.close()
        os.replace(self.tmp, self.path)


def page_url(page, rng):
    """The page's own URL where it names one (canonical link, og:url), else one made up from
    where it came from."""
    head = page.body[:200_000]
    for pattern in (
        rb"<link\b[^>]*\brel=[\"']?canonical[\"']?[^>]*\bhref=[\"']?(https?://[^\"'\s>]+)",
        rb"<link\b[^>]*\bhref=[\"']?(https?://[^\"'\s>]+)[\"']?[^>]*\brel=[\"']?canonical",
        rb"<meta\b[^>]*\bproperty=[\"']?og:url[\"']?[^>]*\bcontent=[\"']?(https?://[^\"'\s>]+)",
    ):
        m = re.search(pattern, head, re.I)
        if m:
            url = m.group(1).decode("ascii", "replace").replace("&amp;", "&")
            if "\ufffd" not in url:
                return url
    stem = re.sub(r"[^a-z0-9]+", "-", os.path.splitext(page.path.split("/", 1)[1])[0].lower()).strip("-")
    scheme = rng.choice(["http", "https"])
    return f"{scheme}://{page.source.name}.fixtures.example/{stem}.html"


def vary_url(url, k):
    """Another URL per copy: the host gets a per-copy label, as make_wat.py does."""
    if k is None:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://c{k}.{rest}"


def script_of(text):
    """The most frequent non-ASCII script of a text (first word of the Unicode name)."""
    counts = {}
    for ch in text[:200_000]:
        if ord(ch) > 127 and ch.isalpha():
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0]
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.get) if counts else None


def declared_charset(body):
    """The charset the page itself declares: its BOM, else the first `<meta charset>` /
    `<meta http-equiv=content-type>` in its first 64 KiB (html5lib's prescan reads only 1024
    bytes; a later meta in the head still switches a browser, by reparsing). This only decides
    what the server is made to say; the WAT's view of the page comes from `parse`."""
    stream = HTMLBinaryInputStream(body, useChardet=False)
    found = stream.detectBOM() or stream.detectEncodingMeta()
    if found is None:
        m = re.search(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([-\w.:]+)", body[:65536], re.I)
        found = lookupEncoding(m.group(1)) if m else None
    if found is not None and found.name in ("utf-16be", "utf-16le") and not stream.detectBOM():
        found = lookupEncoding("utf-8")  # a meta saying UTF-16 means UTF-8 (the bytes are ASCII)
    return found.name if found is not None else None


def insert_into_head(text_or_bytes, markup):
    """Puts markup right after the <head> start tag, else at the very start (after a BOM)."""
    is_bytes = isinstance(text_or_bytes, bytes)
    pattern = rb"<head(?=[\s>/])[^>]*>" if is_bytes else r"<head(?=[\s>/])[^>]*>"
    m = re.search(pattern, text_or_bytes, re.I)
    if m:
        at = m.end()
    else:
        bom = (b"\xef\xbb\xbf", "\ufeff")[0 if is_bytes else 1]
        at = len(bom) if text_or_bytes.startswith(bom) else 0
    return text_or_bytes[:at] + markup + text_or_bytes[at:]


def vary_page(page, rng):
    """The page as served: its bytes (maybe re-encoded, maybe with opt-out metas) and what the
    server says about it."""
    body = page.body
    declared = declared_charset(body)
    bom = body.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    injected = {}
    metas = []
    if rng.random() < 0.10:
        injected["meta_robots"] = rng.choice(ROBOTS_META)
        metas.append(f'<meta name="robots" content="{injected["meta_robots"]}">')
    if rng.random() < 0.05:
        injected["meta_tdm_reservation"] = rng.choice(["1", "0"])
        metas.append(f'<meta name="tdm-reservation" content="{injected["meta_tdm_reservation"]}">')
    markup = "".join(metas)

    transcoded = None
    if declared == "utf-8" and not bom and rng.random() < 0.3:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            if rng.random() < 0.08:
                transcoded = "utf-16"
            else:
                script = script_of(text)
                if script in LEGACY:
                    transcoded = rng.choice(LEGACY[script])
                elif script is not None and script.startswith("CJK"):
                    transcoded = rng.choice(LEGACY["CJK"])
        if transcoded:
            if transcoded != "utf-16":
                text, n = re.subn(r"(charset\s*=\s*[\"']?)utf-?8", lambda m: m.group(1) + transcoded, text,
                                  count=2, flags=re.I)
                if n == 0:
                    markup = f'<meta charset="{transcoded}">' + markup
            if markup:
                text = insert_into_head(text, markup)
            body = text.encode(transcoded, errors="xmlcharrefreplace")
            declared = transcoded
    if not transcoded and markup:
        body = insert_into_head(body, markup.encode())

    # What the server says: the page's own charset most of the time, none sometimes, and now
    # and then another one (Apache's iso-8859-1 default on a UTF-8 page, UTF-8 on a legacy one).
    true_charset = declared or page.charset_hint
    r = rng.random()
    if transcoded == "utf-16":
        header_charset = rng.choice([None, "utf-16"])
    elif true_charset and declared is None:
        # A page that declares nothing: the server is the only one to say it.
        header_charset = true_charset if r < 0.85 else None
    elif true_charset and r < 0.6:
        header_charset = true_charset
    elif true_charset and r < 0.63:
        header_charset = "iso-8859-1" if true_charset == "utf-8" else "utf-8"
    elif true_charset is None and r < 0.6 and is_utf8(body):
        header_charset = "utf-8"
    else:
        header_charset = None
    mime = "application/xhtml+xml" if rng.random() < 0.02 else "text/html"
    if header_charset:
        label = rng.choice([header_charset, header_charset.upper()])
        content_type = rng.choice([f"{mime}; charset={label}", f"{mime};charset={label}", f'{mime}; charset="{label}"'])
    else:
        content_type = mime
    headers = [
        ("Date", None),
        ("Server", rng.choice(SERVERS)),
        ("Content-Type", content_type),
    ]
    if rng.random() < 0.5:
        headers.append(("X-Crawler-Content-Encoding", "gzip"))
    if rng.random() < 0.4:
        headers.append(("Vary", "Accept-Encoding"))
    if rng.random() < 0.10:
        injected["x_robots_tag"] = rng.choice(ROBOTS_HEADER)
        headers.append(("X-Robots-Tag", injected["x_robots_tag"]))
    if rng.random() < 0.04:
        injected["tdm_reservation"] = rng.choice(["1", "0"])
        headers.append(("tdm-reservation", injected["tdm_reservation"]))
    headers.append(("Content-Length", str(len(body))))
    charset = {"header": header_charset, "declared": declared, "hint": page.charset_hint, "transcoded": transcoded}
    return body, headers, charset, injected


def is_utf8(body):
    try:
        body.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def text_of(el):
    return " ".join("".join(el.itertext()).split())


def parse(body, header_charset):
    """html5lib's view of a page: its encoding, head metadata, links in document order and
    every <img> with its context."""
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    doc = parser.parse(body, transport_encoding=header_charset, useChardet=False)
    encoding = parser.documentEncoding
    title = None
    metas, head_links, links, imgs = [], [], [], []
    base = None

    def walk(el, context):
        nonlocal title, base
        tag = el.tag if isinstance(el.tag, str) else None
        if tag is not None:
            a = el.attrib
            if tag == "title" and title is None and not context:
                title = text_of(el)
            elif tag == "meta":
                metas.append({k: v for k, v in a.items() if k in ("name", "property", "http-equiv", "content", "charset", "itemprop")})
            elif tag == "base" and "href" in a and base is None:
                base = a["href"]
            elif tag == "link" and "href" in a:
                head_links.append({"path": "LINK@/href", "url": a["href"], **({"rel": a["rel"]} if "rel" in a else {})})
            elif tag == "a" and "href" in a:
                link = {"path": "A@/href", "url": a["href"]}
                text = text_of(el)
                if text:
                    link["text"] = text
                if "title" in a:
                    link["title"] = a["title"]
                links.append(link)
            elif tag == "img":
                if "src" in a:
                    link = {"path": "IMG@/src", "url": a["src"]}
                    for k in ("alt", "title"):
                        if k in a:
                            link[k] = a[k]
                    links.append(link)
                imgs.append({
                    "src": a.get("src"),
                    "alt": a.get("alt"),
                    "lazy": {k: a[k] for k in LAZY_ATTRS if k in a},
                    "width": a.get("width"),
                    "height": a.get("height"),
                    "in": list(context),
                })
            elif tag in ("script", "iframe", "embed", "frame") and "src" in a:
                links.append({"path": f"{tag.upper()}@/src", "url": a["src"]})
            elif tag == "form" and "action" in a:
                links.append({"path": "FORM@/action", "url": a["action"]})
            if tag in ("noscript", "template", "select", "picture", "svg", "math") or tag.startswith((SVG, MATHML)):
                context = context + (tag.replace(SVG, "svg:").replace(MATHML, "math:"),)
        for child in el:
            walk(child, context)

    walk(doc, ())
    head = {"Metas": metas}
    if title is not None:
        head["Title"] = title
    if head_links:
        head["Link"] = head_links
    if base is not None:
        head["Base"] = base
    return encoding, {"Head": head, "Links": head_links + links}, imgs


def robots_tokens(value):
    return {t.lower() for t in re.split(r"[,:;\s]+", value) if t}


def opt_out(headers, metas):
    """The page's opt-out flags by pairscope's documented rules, from what html5lib parsed."""
    noai = noimageai = tdm = False

    def robots(value):
        nonlocal noai, noimageai
        tokens = robots_tokens(value)
        noai |= "noai" in tokens
        noimageai |= "noimageai" in tokens

    for name, value in headers:
        if name.lower() == "x-robots-tag":
            robots(value)
        elif name.lower() == "tdm-reservation":
            tdm |= value.strip() == "1"
    for meta in metas:
        name, content = meta.get("name"), meta.get("content")
        if name is None or content is None:
            continue
        if name.strip().lower() == "robots":
            robots(content)
        elif name.strip().lower() == "tdm-reservation":
            tdm |= content.strip() == "1"
    return {"noai": noai, "noimageai": noimageai, "tdm_reservation": tdm}


def request_block(url, rng):
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    return (f"GET /{path} HTTP/1.1\r\nUser-Agent: CCBot/2.0\r\nAccept: text/html,application/xhtml+xml,"
            f"application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: br,gzip\r\n"
            f"Host: {host}\r\nConnection: Keep-Alive\r\n\r\n").encode("utf-8")


def wat_metadata(warc_name, offset, fields, block, payload_meta):
    head_len = len(warc_record(fields, block)) - len(block) - 4
    header_meta = dict(fields)
    header_meta["Content-Length"] = str(len(block))
    return {
        "Container": {"Filename": warc_name, "Compressed": True, "Offset": str(offset)},
        "Envelope": {
            "Format": "WARC",
            "WARC-Header-Length": str(head_len),
            "Block-Digest": sha1_b32(block),
            "Actual-Content-Length": str(len(block)),
            "WARC-Header-Metadata": header_meta,
            "Payload-Metadata": payload_meta,
        },
    }


def wat_record_bytes(doc, target, date, refers_to, rng):
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    fields = [("WARC-Type", "metadata")]
    if target is not None:
        fields.append(("WARC-Target-URI", target))
    fields += [("WARC-Date", date), ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>"),
               ("WARC-Refers-To", refers_to), ("Content-Type", "application/json")]
    return warc_record(fields, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=html_corpus.DEFAULT_DIR)
    ap.add_argument("--fetch", action="store_true", help="download the corpus first where it is missing")
    ap.add_argument("--out", required=True, help="prefix of the .warc.gz, .warc.wat.gz and .pages.jsonl")
    ap.add_argument("--copies", type=int)
    ap.add_argument("--min-bytes", type=int, help="repeat the corpus until the WARC inflates to this size")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.copies is not None and a.min_bytes is not None:
        ap.error("give at most one of --copies and --min-bytes")
    copies = a.copies if a.copies is not None else (None if a.min_bytes else 1)
    if a.fetch:
        html_corpus.fetch(a.corpus)
    if html_corpus.missing(a.corpus):
        raise SystemExit(f"corpus incomplete in {a.corpus}: run bench/html_corpus.py fetch")
    corpus = list(html_corpus.pages(a.corpus))

    warc_name = os.path.basename(a.out) + ".warc.gz"
    warc = Writer(a.out + ".warc.gz")
    wat = Writer(a.out + ".warc.wat.gz")
    manifest_tmp = a.out + ".pages.jsonl.tmp"
    manifest = open(manifest_tmp, "w", encoding="utf-8")
    rng = random.Random(a.seed)
    warcinfo_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>"
    info = b"software: pairscope bench/make_cc_from_html.py\r\nformat: WARC File Format 1.0\r\n" \
           b"description: real pages from the test fixtures of web-extraction packages\r\n"
    date0 = "2024-02-20T10:00:00Z"
    warc.write(warc_record([("WARC-Type", "warcinfo"), ("WARC-Date", date0), ("WARC-Filename", warc_name),
                            ("WARC-Record-ID", warcinfo_id), ("Content-Type", "application/warc-fields")], info))
    wat.write(warc_record([("WARC-Type", "warcinfo"), ("WARC-Date", date0),
                           ("WARC-Filename", os.path.basename(a.out) + ".warc.wat.gz"),
                           ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>"),
                           ("Content-Type", "application/warc-fields")], info))
    pages = imgs_total = 0
    started = time.perf_counter()
    cache = {}
    t = 1708423200  # date0 as a Unix time; each record a few seconds later
    copy = 0
    urls = {}
    while (copies is not None and copy < copies) or (copies is None and warc.inflated < a.min_bytes):
        k = None if copy == 0 else f"{copy}-{a.seed}"
        for page in corpus:
            # Every choice about a page comes from its own generator: a page's records do not
            # depend on which pages come before it.
            prng = random.Random(f"{a.seed}:{copy}:{page.id}")
            url = page_url(page, prng)
            # Packages share fixtures (the same page saved twice): each copy gets its own URL.
            seen = urls.get(url, 0)
            urls[url] = seen + 1
            if seen:
                scheme, _, rest = url.partition("://")
                url = f"{scheme}://d{seen}.{rest}"
            url = vary_url(url, k)
            body, headers, charset, injected = vary_page(page, prng)
            t += prng.randrange(1, 30)
            date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            headers = [(n, email.utils.formatdate(t, usegmt=True) if n == "Date" else v) for n, v in headers]
            key = (hashlib.sha1(body).digest(), charset["header"])
            if key not in cache:
                cache[key] = parse(body, charset["header"])
            encoding, html_meta, imgs = cache[key]
            charset["used"] = encoding

            ip = ".".join(str(prng.randrange(1, 255)) for _ in range(4))
            req_id = f"<urn:uuid:{uuid.UUID(int=prng.getrandbits(128))}>"
            resp_id = f"<urn:uuid:{uuid.UUID(int=prng.getrandbits(128))}>"
            meta_id = f"<urn:uuid:{uuid.UUID(int=prng.getrandbits(128))}>"
            req_block = request_block(url, prng)
            head = "HTTP/1.1 200 OK\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
            resp_block = head.encode("latin-1") + body
            req_fields = [("WARC-Type", "request"), ("WARC-Date", date), ("WARC-Record-ID", req_id),
                          ("Content-Type", "application/http; msgtype=request"), ("WARC-Warcinfo-ID", warcinfo_id),
                          ("WARC-IP-Address", ip), ("WARC-Target-URI", url)]
            resp_fields = [("WARC-Type", "response"), ("WARC-Date", date), ("WARC-Record-ID", resp_id),
                           ("Content-Type", "application/http; msgtype=response"), ("WARC-Warcinfo-ID", warcinfo_id),
                           ("WARC-Concurrent-To", req_id), ("WARC-IP-Address", ip), ("WARC-Target-URI", url),
                           ("WARC-Payload-Digest", sha1_b32(body)), ("WARC-Block-Digest", sha1_b32(resp_block)),
                           ("WARC-Identified-Payload-Type", "text/html")]
            fetch_block = f"fetchTimeMs: {prng.randrange(20, 3000)}\r\ncharset-detected: {encoding}\r\n".encode()
            meta_fields = [("WARC-Type", "metadata"), ("WARC-Date", date), ("WARC-Record-ID", meta_id),
                           ("Content-Type", "application/warc-fields"), ("WARC-Warcinfo-ID", warcinfo_id),
                           ("WARC-Concurrent-To", resp_id), ("WARC-Target-URI", url)]
            req_off = warc.write(warc_record(req_fields, req_block))
            resp_off = warc.write(warc_record(resp_fields, resp_block))
            meta_off = warc.write(warc_record(meta_fields, fetch_block))

            wat.write(wat_record_bytes(
                wat_metadata(warc_name, req_off, req_fields, req_block, {
                    "Actual-Content-Type": "application/http; msgtype=request",
                    "HTTP-Request-Metadata": {
                        "Request-Message": {"Method": "GET", "Path": "/" + url.split("://", 1)[1].partition("/")[2],
                                            "Version": "HTTP/1.1"},
                        "Headers-Length": str(len(req_block)), "Entity-Length": "0"}}),
                url, date, req_id, prng))
            response_meta = {
                "Response-Message": {"Version": "HTTP/1.1", "Status": "200", "Reason": "OK"},
                "Headers": dict(headers),
                "Headers-Length": str(len(head)),
                "Entity-Length": str(len(body)),
                "Entity-Trailing-Slop-Length": "0",
                "Entity-Digest": sha1_b32(body),
                "HTML-Metadata": html_meta,
            }
            wat_off = wat.write(wat_record_bytes(
                wat_metadata(warc_name, resp_off, resp_fields, resp_block, {
                    "Actual-Content-Type": "application/http; msgtype=response",
                    "HTTP-Response-Metadata": response_meta}),
                url, date, resp_id, prng))
            wat.write(wat_record_bytes(
                wat_metadata(warc_name, meta_off, meta_fields, fetch_block, {
                    "Actual-Content-Type": "application/warc-fields",
                    "WARC-Metadata-Metadata": {"Metadata-Records": [
                        {"Name": n, "Value": v} for n, _, v in
                        (line.partition(": ") for line in fetch_block.decode().split("\r\n") if line)]}}),
                url, date, meta_id, prng))

            row = {
                "id": page.id, "url": url, "warc_offset": resp_off, "wat_offset": wat_off,
                "base": html_meta["Head"].get("Base"), "charset": charset, "injected": injected,
                "optout": opt_out(headers, html_meta["Head"]["Metas"]),
                "imgs": imgs,
            }
            manifest.write(json.dumps(row, ensure_ascii=False) + "\n")
            pages += 1
            imgs_total += len(imgs)
        copy += 1
        urls.clear()
    warc.close()
    wat.close()
    manifest.close()
    os.replace(manifest_tmp, a.out + ".pages.jsonl")
    print(json.dumps({
        "pages": pages, "imgs": imgs_total, "copies": copy,
        "warc": {"records": warc.records, "inflated_bytes": warc.inflated, "compressed_bytes": warc.offset},
        "wat": {"records": wat.records, "inflated_bytes": wat.inflated, "compressed_bytes": wat.offset},
        "seconds": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()
