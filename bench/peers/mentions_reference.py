"""The Python reference for `pairscope mentions`: how many captions mention each entity of a
name list, counted the way a careful analyst would in Python, with pairscope's semantics:

- normalisation, of captions and aliases alike: every character whose general category is not
  L*, M* or N* becomes a separator; then NFKC, full case folding (str.casefold), NFKC; split
  on separators again; the tokens joined by single spaces;
- an alias matches when its tokens occur as consecutive whole tokens of the caption, i.e.
  " alias " is a substring of " caption "; an alias with a Han, Hiragana, Katakana, Thai, Lao,
  Khmer or Myanmar character matches as a plain substring of the normalised caption;
- a caption counts at most once per entity; an alias shared by several entities counts for
  each of them.

One process, one pyahocorasick automaton holding every pattern, the captions read with pyarrow
in batches (bounded memory) from the pairscope dataset's block files (DS/sources/*/block-*.parquet)
or from parquet files with a caption (or text) column. Each batch is joined into one string, with
NUL between captions, so normalising and searching it are a few C calls; a hit's caption is found
by bisecting the NUL positions.

Python's unicodedata has no Script property, so the substring scripts are told by character
name (CJK UNIFIED IDEOGRAPH…, HIRAGANA…, KATAKANA…, THAI…, …) plus the few Common and Inherited
characters these scripts use inside words (ー, the voiced sound marks, 〆, the kana repeat marks,
ideographic numerals, counting rods). Only aliases are tested, and a normalised alias holds
token characters only. Python 3.11's Unicode data is version 14: characters assigned later are
separators here.

Usage: mentions_reference.py --dataset DS|--parquet PATH --names LIST
Prints {"counts": {entity name: count}, "seconds": S, "rows": N, "caption_bytes": B, ...}.
"""

import argparse
import bisect
import functools
import json
import re
import sys
import time
import unicodedata
from pathlib import Path

import ahocorasick
import pyarrow.compute as pc
import pyarrow.parquet as pq

BATCH_ROWS = 65_536
BOUNDARY = "\x00"  # between captions in a batch string; a separator, never part of a pattern


def separator_ranges(lo, hi):
    """The code point ranges in [lo, hi] whose general category is not L*, M* or N* (NUL left
    out: it is the batch boundary)."""
    ranges, start = [], None
    for cp in range(lo, hi + 1):
        sep = cp != 0 and unicodedata.category(chr(cp))[0] not in "LMN"
        if sep and start is None:
            start = cp
        elif not sep and start is not None:
            ranges.append((start, cp - 1))
            start = None
    if start is not None:
        ranges.append((start, hi))
    return ranges


# A run of separators of the Basic Multilingual Plane: a class kept within the BMP, which re
# matches several times faster than one reaching past U+FFFF (measured).
BMP_SEPARATORS = re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in separator_ranges(0, 0xFFFF)) + "]+")
ASTRAL = re.compile("[\U00010000-\U0010FFFF]")  # emoji and the like: rare, tested one by one
# ASCII: NFKC changes nothing and case folding is lowercasing, so one translate does it all.
ASCII_TABLE = str.maketrans({chr(b): chr(b).lower() if chr(b).isalnum() or b == 0 else " " for b in range(128)})


def astral(match):
    c = match.group()
    return c if unicodedata.category(c)[0] in "LMN" else " "


def separators_to_spaces(text):
    return BMP_SEPARATORS.sub(" ", ASTRAL.sub(astral, text))


def normalize_text(text):
    """The normalisation over a string that may hold several captions separated by BOUNDARY:
    NUL is a separator for the captions but survives here, and nothing in NFKC or case folding
    acts across it (a stable starter), so each caption comes out as if normalised alone, with
    every run of separators made one space (the edges are trimmed by the callers)."""
    if text.isascii():
        text = text.translate(ASCII_TABLE)
        while "  " in text:
            text = text.replace("  ", " ")
        return text
    text = separators_to_spaces(text)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return separators_to_spaces(text)


def normalize(text):
    """The canonical form of one alias or caption: tokens joined by single spaces."""
    return normalize_text(text.replace(BOUNDARY, " ")).strip(" ")


# Common/Inherited token characters that count for the substring scripts (their
# Script_Extensions list only those scripts), as code point ranges.
SUBSTRING_EXTRA = [(0x3006, 0x3006), (0x3031, 0x3035), (0x303C, 0x303C), (0x3099, 0x309A),
                   (0x30FC, 0x30FC), (0x3192, 0x3195), (0x3220, 0x3229), (0x3280, 0x3289),
                   (0xFF70, 0xFF70), (0xFF9E, 0xFF9F), (0x1D360, 0x1D371)]
# Script=Han characters whose names do not say so.
HAN_EXTRA = [(0x3005, 0x3005), (0x3007, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
             (0x16FE2, 0x16FE3), (0x16FF0, 0x16FF1)]
SUBSTRING_NAMES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "CJK RADICAL", "KANGXI RADICAL",
                   "HIRAGANA", "HENTAIGANA", "KATAKANA", "HALFWIDTH KATAKANA", "CIRCLED KATAKANA",
                   "SQUARED KATAKANA", "THAI ", "LAO ", "KHMER ", "MYANMAR ")


@functools.lru_cache(maxsize=None)
def substring_char(c):
    cp = ord(c)
    if cp < 0x80:
        return False
    if any(a <= cp <= b for a, b in SUBSTRING_EXTRA + HAN_EXTRA):
        return True
    name = unicodedata.name(c, "")
    # "KATAKANA-HIRAGANA DOUBLE HYPHEN" and the like are separators, never in a canonical alias
    return name.startswith(SUBSTRING_NAMES)


def has_substring_script(alias):
    return not alias.isascii() and any(substring_char(c) for c in alias)


def load_names(path):
    """[(name, [aliases])] from a name list: one entity a line, aliases separated by "|",
    # comments and blank lines skipped; the name is the first alias."""
    text = Path(path).read_text(encoding="utf-8").removeprefix("\ufeff")
    entities, seen = [], set()
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        aliases = [a.strip() for a in line.split("|")]
        if aliases[0] in seen:
            raise SystemExit(f"{path}:{number}: duplicate entity {aliases[0]!r}")
        seen.add(aliases[0])
        entities.append((aliases[0], aliases))
    return entities


def automaton(entities):
    """One automaton over every distinct pattern; a pattern's value is the tuple of the
    entities having it."""
    patterns = {}
    for index, (_, aliases) in enumerate(entities):
        for alias in aliases:
            canonical = normalize(alias)
            if not canonical:
                raise SystemExit(f"alias {alias!r} normalises to nothing")
            pattern = canonical if has_substring_script(canonical) else f" {canonical} "
            owners = patterns.setdefault(pattern, [])
            if index not in owners:
                owners.append(index)
    a = ahocorasick.Automaton()
    for pattern, owners in patterns.items():
        a.add_word(pattern, tuple(owners))
    a.make_automaton()
    return a, len(patterns)


def caption_files(args):
    if args.dataset:
        files = sorted(Path(args.dataset).glob("sources/*/block-*.parquet"))
        if not files:
            raise SystemExit(f"{args.dataset}: no sources/*/block-*.parquet")
        return files
    p = Path(args.parquet)
    return sorted(p.rglob("*.parquet")) if p.is_dir() else [p]


def caption_batches(files):
    for f in files:
        pf = pq.ParquetFile(f)
        lower = {c.lower(): c for c in pf.schema_arrow.names}
        column = lower.get("caption") or lower.get("text")
        if column is None:
            raise SystemExit(f"{f}: no caption or text column")
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
            yield batch.column(0)


def count(auto, captions, counts):
    """Adds to counts[entity] the captions that mention the entity (once each)."""
    if not captions:
        return
    n = len(counts)
    joined = BOUNDARY.join(captions)
    if joined.count(BOUNDARY) != len(captions) - 1:  # a caption holds NUL itself: a separator
        joined = BOUNDARY.join(c.replace(BOUNDARY, " ") for c in captions)
    haystack = " " + normalize_text(joined).replace(BOUNDARY, " " + BOUNDARY + " ") + " "
    ends, at = [], haystack.find(BOUNDARY)
    while at >= 0:
        ends.append(at)
        at = haystack.find(BOUNDARY, at + 1)
    seen = set()
    for end, owners in auto.iter(haystack):
        caption = bisect.bisect_left(ends, end)
        for entity in owners:
            seen.add(caption * n + entity)
    for key in seen:
        counts[key % n] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="a pairscope dataset directory")
    src.add_argument("--parquet", help="a parquet file or a directory of them")
    ap.add_argument("--names", required=True, help="the name list")
    args = ap.parse_args()

    start = time.perf_counter()
    entities = load_names(args.names)
    auto, patterns = automaton(entities)
    built = time.perf_counter()
    n = len(entities)
    counts = [0] * n
    rows = caption_bytes = 0
    for column in caption_batches(caption_files(args)):
        rows += len(column)
        caption_bytes += pc.sum(pc.binary_length(column)).as_py() or 0
        captions = [c or "" for c in column.to_pylist()]
        # ASCII captions (most) take the quick path of normalize_text; which caption a hit is in
        # matters only within each part
        count(auto, [c for c in captions if c.isascii()], counts)
        count(auto, [c for c in captions if not c.isascii()], counts)
    done = time.perf_counter()
    print(json.dumps({
        "counts": {name: c for (name, _), c in zip(entities, counts)},
        "seconds": done - start,
        "build_seconds": built - start,
        "rows": rows,
        "caption_bytes": caption_bytes,
        "entities": n,
        "patterns": patterns,
    }))


if __name__ == "__main__":
    sys.exit(main())
