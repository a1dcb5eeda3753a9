"""Builds a larger WAT file by varying real records: the metadata records of a source WAT
(Common Crawl's sample in ../shared/data/cc) are repeated, each copy with its own page URL,
image URLs and alt texts, then gzipped one member per record as Common Crawl does.

--edge-cases also rewrites the image links of each copy the way real pages write them (relative,
protocol-relative, `..` past the root, spaces, backslashes, non-ASCII paths, data: and
javascript: URIs, upper-case schemes, `<base href>` variants, alts with entities and odd
whitespace), so a differential test sees more than the sample's 32 absolute links.

Usage: make_wat.py --source SAMPLE.wat.gz --out OUT.wat.gz (--copies N | --min-bytes B)
                   [--edge-cases] [--seed S]
Prints {"records": N, "inflated_bytes": N, "compressed_bytes": N}.
"""

import argparse
import json
import os
import random
import zlib


def members(data):
    """The decompressed gzip members of a file, in order."""
    while data:
        d = zlib.decompressobj(wbits=31)
        yield d.decompress(data)
        data = d.unused_data


def split_record(member):
    head, _, rest = member.partition(b"\r\n\r\n")
    fields = []
    for line in head.decode("utf-8").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        fields.append((name.strip(), value.strip()))
    length = int(dict(fields)["Content-Length"])
    return fields, rest[:length]


def record(fields, payload, k):
    head = ["WARC/1.0"]
    for name, value in fields:
        if name == "Content-Length":
            value = len(payload)
        elif name == "WARC-Target-URI":
            value = vary_url(value, k)
        head.append(f"{name}: {value}")
    return "\r\n".join(head).encode() + b"\r\n\r\n" + payload + b"\r\n\r\n"


def gzip_member(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def vary_url(url, k):
    """Another real-looking URL per copy: the host gets a per-copy label (k is "copy-seed")."""
    for scheme in ("http://", "https://"):
        if url.startswith(scheme):
            return f"{scheme}c{k}.{url[len(scheme):]}"
    return url


# Image link rewrites as real pages write them; each takes the absolute URL and the copy's rng.
def _path(url):
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


EDGE_URLS = [
    lambda u, r: _path(u),
    lambda u, r: _path(u).lstrip("/"),
    lambda u, r: "../../../.." + _path(u),
    lambda u, r: "//" + u.split("://", 1)[1] if "://" in u else u,
    lambda u, r: "./" + _path(u).rsplit("/", 1)[-1] + "?size=large&v=2#top",
    lambda u, r: " " + _path(u) + " ",
    lambda u, r: _path(u).replace("/", "\\"),
    lambda u, r: _path(u).rsplit("/", 1)[0] + "/图片 %E5%9B%BE.jpg",
    lambda u, r: "HTTP://" + u.split("://", 1)[1] if "://" in u else u,
    lambda u, r: "https://" + u.split("://", 1)[1] if "://" in u else u,
    lambda u, r: "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    lambda u, r: "javascript:void(0)",
    lambda u, r: "mailto:someone@example.org",
    lambda u, r: "",
    lambda u, r: "?page=" + str(r.randrange(100)),
    lambda u, r: "#",
    lambda u, r: u + "?q=a|b&c=[d]",
    lambda u, r: u.replace("://", "://user:pw@", 1),
]
EDGE_ALTS = [
    lambda a: a,
    lambda a: f"  {a}\n\t ",
    lambda a: f"{a} &amp; more &lt;b&gt; &#x263A;",
    lambda a: " ",
    lambda a: "\u00a0",
    lambda a: "",
    lambda a: a.replace(" ", "\r\n"),
    lambda a: f"x{a}\u3000y",
]
EDGE_BASES = [None, None, "/static/", "https://cdn.example.net/img/", "sub/dir/", "", "//other.example/"]


def vary(doc, k, edge, rng):
    envelope = doc["Envelope"]
    header = envelope.get("WARC-Header-Metadata", {})
    if "WARC-Target-URI" in header:
        header["WARC-Target-URI"] = vary_url(header["WARC-Target-URI"], k)
    html = envelope.get("Payload-Metadata", {}).get("HTTP-Response-Metadata", {}).get("HTML-Metadata")
    if not html:
        return
    if edge:
        base = rng.choice(EDGE_BASES)
        if base is not None:
            html.setdefault("Head", {})["Base"] = base
    for link in html.get("Links", []):
        if link.get("path") != "IMG@/src":
            continue
        url = vary_url(link.get("url", ""), k)
        alt = link.get("alt")
        if edge:
            url = rng.choice(EDGE_URLS)(url, rng)
            # Links without alt get one now and then, so more links take part.
            if alt is None and rng.random() < 0.3:
                alt = f"image {rng.randrange(1000)}"
            if alt is not None:
                alt = rng.choice(EDGE_ALTS)(alt)
        elif alt:
            alt = f"{alt} {k}"
        link["url"] = url
        if alt is not None:
            link["alt"] = alt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--copies", type=int)
    ap.add_argument("--min-bytes", type=int)
    ap.add_argument("--edge-cases", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if (a.copies is None) == (a.min_bytes is None):
        ap.error("give one of --copies and --min-bytes")

    with open(a.source, "rb") as f:
        source = list(members(f.read()))
    warcinfo, metadata = source[0], [split_record(m) for m in source[1:]]
    rng = random.Random(a.seed)
    tmp = a.out + ".tmp"
    records, inflated, compressed = 1, len(warcinfo), 0
    with open(tmp, "wb") as out:
        compressed += out.write(gzip_member(warcinfo))
        copy = 0
        while (a.copies is not None and copy < a.copies) or (a.min_bytes is not None and inflated < a.min_bytes):
            k = f"{copy}-{a.seed}"
            for fields, payload in metadata:
                doc = json.loads(payload)
                vary(doc, k, a.edge_cases, rng)
                body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
                member = record(fields, body, k)
                records += 1
                inflated += len(member)
                compressed += out.write(gzip_member(member))
            copy += 1
    os.replace(tmp, a.out)
    print(json.dumps({"records": records, "inflated_bytes": inflated, "compressed_bytes": compressed}))


if __name__ == "__main__":
    main()
