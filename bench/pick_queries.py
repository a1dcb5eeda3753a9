"""Picks the benchmark query set by document frequency on the synthetic data and writes
bench/queries.json, recording each word's measured share of rows so anyone can re-derive it.

    bench/.venv/bin/python bench/pick_queries.py [--data bench/data/synth-1M-laion-aesthetics]

The data is `pairscope synth --rows 1000000 --seed 42 --schema laion-aesthetics` (bench/run
caches it in bench/data). Words are the caption lower-cased and split on everything that is not
a letter, mark or number (whole words, as pairscope's normalisation tokenises); a word's
document frequency (df) is the number of rows containing it at least once.

Only plain ASCII words of 3+ letters from synth's English vocabulary (crates/synth/vocab/en-*.txt:
the words ordinary captions are made of) are candidates, not words of the built-in artist and
character names (the captions synth injects those into are the Mentions benchmark's business),
and only those that no caption spells with accents (SQLite's unicode61 tokenizer folds "café" into "cafe", pairscope does not unless
--fold-accents), so the three engines agree on what a match is and the check column can
demand equal counts.
"""

import argparse
import json
import math
import re
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEP = r"[^\pL\pM\pN]+"  # a separator run: anything but letters, marks, numbers

TARGETS = {  # share of rows
    "common": 0.02,  # ≈ 1–5 %: middle of the range (geometrically)
    "filtered": 0.04,  # a second common word for the filtered query, a bit more frequent
    "rare": 0.0001,  # ≈ 0.01 %
    "phrase": 0.002,  # a two-word phrase, ≈ 0.2 %: enough rows that sorting them costs something
}
FILTER = "aesthetic >= 6 AND punsafe < 0.5"
URL_PREFIX = "https://i.pinimg.com/736x/"


def words_of(path):
    lines = (line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    return set(re.split(r"[^a-z0-9]+", " ".join(lines).lower().replace("_", " "))) - {""}


def vocabulary():
    """synth's English caption words, minus every word of a built-in name."""
    vocab = set().union(*(words_of(p) for p in sorted((ROOT / "crates" / "synth" / "vocab").glob("en-*.txt"))))
    names = set().union(*(words_of(p) for p in sorted((ROOT / "crates" / "text" / "lists").glob("*.txt"))))
    return vocab - names


def closest(rows, target):
    """The (word, df) whose share is nearest target on a log scale; ties by word."""
    return min(rows, key=lambda r: (abs(math.log(r[2] / target)), r[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE / "data" / "synth-1M-laion-aesthetics"))
    ap.add_argument("--out", default=str(HERE / "queries.json"))
    args = ap.parse_args()

    files = sorted(str(p) for p in Path(args.data).rglob("*.parquet"))
    if not files:
        raise SystemExit(f"no parquet under {args.data}: run bench/run first (it makes the synth data)")
    db = duckdb.connect()
    db.execute("SET preserve_insertion_order = false")
    db.execute(
        f"""CREATE TEMP TABLE toks AS
            SELECT list_filter(regexp_split_to_array(lower(TEXT), '{SEP}'), t -> t <> '') AS t,
                   CASE WHEN isnan(aesthetic) THEN NULL ELSE aesthetic END AS aesthetic,
                   CASE WHEN isnan(punsafe) THEN NULL ELSE punsafe END AS punsafe
            FROM read_parquet(?) WHERE TEXT IS NOT NULL AND TEXT <> '' AND URL IS NOT NULL AND URL <> ''""",
        [files],
    )
    (rows,) = db.execute("SELECT count(*) FROM toks").fetchone()

    # df of every word, and of its accent-folded spellings (must be equal for a candidate)
    words = db.execute(
        f"""WITH w AS (SELECT DISTINCT rowid AS r, unnest(t) AS w FROM toks),
                 plain AS (SELECT w, count(*) AS df FROM w WHERE regexp_full_match(w, '[a-z]{{3,}}') GROUP BY w),
                 folded AS (SELECT strip_accents(w) AS w, count(DISTINCT r) AS df FROM w
                            WHERE NOT regexp_full_match(w, '[a-z]+') GROUP BY 1)
            SELECT plain.w, plain.df, plain.df / {rows} AS share
            FROM plain LEFT JOIN folded USING (w)
            WHERE folded.df IS NULL"""
    ).fetchall()
    vocab = vocabulary()
    words = [w for w in words if w[0] in vocab]

    common = closest(words, TARGETS["common"])
    filtered = closest([w for w in words if w[0] != common[0]], TARGETS["filtered"])
    rare = closest(words, TARGETS["rare"])

    # two-word phrases of candidate words that are not function words (df share <= 5 %): df
    # of the phrase (the words adjacent, in order)
    ok = {w for w, _, share in words if share <= 0.05}
    db.execute("CREATE TEMP TABLE ok (w VARCHAR)")
    db.executemany("INSERT INTO ok VALUES (?)", [[w] for w in ok])
    bigrams = db.execute(
        f"""WITH b AS (SELECT DISTINCT rowid AS r, unnest(list_transform(range(1, len(t)), i -> [t[i], t[i + 1]])) AS p FROM toks WHERE len(t) > 1),
                 c AS (SELECT p[1] AS a, p[2] AS b, count(*) AS df FROM b GROUP BY 1, 2)
            SELECT a || ' ' || b, df, df / {rows} FROM c
            WHERE a <> b AND a IN (SELECT w FROM ok) AND b IN (SELECT w FROM ok)
              AND df >= {TARGETS['phrase'] / 4 * rows}"""
    ).fetchall()
    # the nearest phrase whose words also occur apart (in 20 %+ more rows than the phrase), so
    # that a phrase query has to check positions and cannot pass for an AND of its words
    for phrase in sorted(bigrams, key=lambda r: (abs(math.log(r[2] / TARGETS["phrase"])), r[0])):
        (both,) = db.execute(
            "SELECT count(*) FROM toks WHERE list_contains(t, ?) AND list_contains(t, ?)", phrase[0].split()
        ).fetchone()
        if both >= 1.2 * phrase[1]:
            break
    (filtered_df,) = db.execute(
        f"SELECT count(*) FROM toks WHERE list_contains(t, ?) AND {FILTER}", [filtered[0]]
    ).fetchone()
    (url_rows,) = db.execute("SELECT count(*) FROM read_parquet(?) WHERE starts_with(URL, ?)", [files, URL_PREFIX]).fetchone()

    def share(n):
        return round(n / rows, 6)

    out = {
        "derivation": {
            "by": "bench/pick_queries.py",
            "data": "pairscope synth --rows 1000000 --seed 42 --schema laion-aesthetics",
            "rows": rows,
            "tokens": "lower-cased caption split on runs of non-(letter|mark|number); whole words; "
            "ASCII words of 3+ letters never spelt with accents",
            "targets": TARGETS,
            "df": {
                common[0]: {"rows": common[1], "share": share(common[1])},
                filtered[0]: {"rows": filtered[1], "share": share(filtered[1]),
                              "with_filter": {"where": FILTER, "rows": filtered_df, "share": share(filtered_df)}},
                rare[0]: {"rows": rare[1], "share": share(rare[1])},
                f'"{phrase[0]}"': {"rows": phrase[1], "share": share(phrase[1]), "rows_with_both_words": both},
                f"url {URL_PREFIX}*": {"rows": url_rows, "share": share(url_rows)},
            },
        },
        "queries": [
            {"name": "common word", "kind": "search", "query": common[0], "where": None, "url": None,
             "sort": "relevance", "desc": True, "limit": 50},
            {"name": "rare word", "kind": "search", "query": rare[0], "where": None, "url": None,
             "sort": "relevance", "desc": True, "limit": 50},
            {"name": "two-word phrase", "kind": "search", "query": f'"{phrase[0]}"', "where": None, "url": None,
             "sort": "relevance", "desc": True, "limit": 50},
            {"name": "phrase + sort by aesthetic", "kind": "search", "query": f'"{phrase[0]}"', "where": None,
             "url": None, "sort": "aesthetic", "desc": True, "limit": 50},
            {"name": "word + score filters", "kind": "search", "query": filtered[0], "where": FILTER, "url": None,
             "sort": "aesthetic", "desc": True, "limit": 50},
            {"name": "count of a common word", "kind": "count", "query": common[0]},
            {"name": "top-20 hosts of a common word", "kind": "facets", "query": common[0], "by": "host", "top": 20},
            {"name": "whole-dataset top-50 hosts", "kind": "facets", "query": None, "by": "host", "top": 50},
            {"name": "aesthetic histogram", "kind": "facets", "query": None, "by": "aesthetic", "buckets": 20,
             "lo": 0, "hi": 10},
            {"name": "URL prefix", "kind": "search", "query": None, "where": None, "url": URL_PREFIX,
             "sort": "relevance", "desc": True, "limit": 50},
        ],
    }
    Path(args.out).write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(out["derivation"]["df"], indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
