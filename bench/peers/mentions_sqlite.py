"""Counts the captions that mention each entity of a name list with SQLite FTS5, the way one
would over the Datasette-style database that sqlite_fts5.py builds: one query per entity,

    SELECT count(*) FROM pairs_fts WHERE pairs_fts MATCH ?

with the entity's aliases as an OR of quoted FTS5 phrases ("greg rutkowski" OR "rutkowski"; a
double quote inside an alias is doubled). An alias that the unicode61 tokenizer makes no token
of (no letter, number or private-use character) is left out; an entity left with none counts 0
without a query. The semantics are the tokenizer's, looser than pairscope's: unicode61 folds
case and removes diacritics (Dürer = Durer) and has no substring matching for scripts written
without spaces, so counts may differ from the reference's.

Usage: mentions_sqlite.py --db sqlite.db --names LIST. Prints {"counts": {...}, "seconds": S,
"queries": N}.
"""

import argparse
import json
import sqlite3
import time
import unicodedata
from pathlib import Path


def load_names(path):
    """[(name, [aliases])]: one entity a line, aliases separated by "|", # comments and blank
    lines skipped (mentions_reference.load_names without pulling in its Unicode tables)."""
    text = Path(path).read_text(encoding="utf-8").removeprefix("\ufeff")
    entities = []
    for raw in text.split("\n"):
        line = raw.strip()
        if line and not line.startswith("#"):
            aliases = [a.strip() for a in line.split("|")]
            entities.append((aliases[0], aliases))
    return entities


def has_token(alias):
    """Whether unicode61 (default categories "L* N* Co") finds a token in alias."""
    return any(unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "Co" for c in alias)


def match_expression(aliases):
    phrases = ['"' + a.replace('"', '""') + '"' for a in aliases if has_token(a)]
    return " OR ".join(phrases) or None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="the database sqlite_fts5.py built")
    ap.add_argument("--names", required=True, help="the name list")
    args = ap.parse_args()

    start = time.perf_counter()
    db = sqlite3.connect(args.db)
    entities = load_names(args.names)
    counts, queries = {}, 0
    for name, aliases in entities:
        expression = match_expression(aliases)
        if expression is None:
            counts[name] = 0
            continue
        counts[name] = db.execute("SELECT count(*) FROM pairs_fts WHERE pairs_fts MATCH ?", (expression,)).fetchone()[0]
        queries += 1
    db.close()
    print(json.dumps({"counts": counts, "seconds": time.perf_counter() - start, "queries": queries}))


if __name__ == "__main__":
    main()
