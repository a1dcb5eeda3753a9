"""The Datasette way of making captions searchable, as the 2022 LAION-Aesthetics analysis did,
loaded as lean as Python's sqlite3 allows: bulk-insert the plain columns into one table
(executemany in one transaction, no journal, no fsync: what `sqlite-utils insert` does, minus
its per-row Python), then build an FTS5 index over the caption with the unicode61 tokenizer
(what `sqlite-utils enable-fts` / Datasette's full-text search use: an external-content FTS5
table filled with 'rebuild').

Like the 2022 LAION-Aesthetics Datasette (which added a domain column to facet on), the rows then
get a `host` column derived from the url, computed as pairscope derives its own (lower case, no
credentials or port), so the query comparison can facet by host the Datasette way. SQLite has no
URL parser, so the derivation is a Python function called by an UPDATE after the load: Python's
cost, not SQLite's, timed apart (`host_s`) so the load (`insert_s` + `fts5_s`) is SQLite's own.
No other index is built: Datasette facets and sorts with what `sqlite-utils` makes.

Usage: sqlite_fts5.py PARQUET_DIR_OR_FILE DB. Prints the phase timings as JSON.
"""

import json
import re
import sqlite3
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

COLUMNS = {  # canonical name: candidate source names, as pairscope recognises them
    "url": ["url"],
    "caption": ["text", "caption"],
    "width": ["width"],
    "height": ["height"],
    "similarity": ["similarity"],
    "punsafe": ["punsafe"],
    "pwatermark": ["pwatermark"],
    "aesthetic": ["aesthetic"],
}


AUTHORITY_END = re.compile(r"[/?#\\]")


def host_of(url):
    """The lower-case host of a URL without credentials or port (pairscope's model::host_of for
    the plain hosts synth makes; anything else goes through IDNA as the url crate does)."""
    if url is None or "://" not in url:
        return None
    rest = url.strip().split("://", 1)[1]
    authority = AUTHORITY_END.split(rest, 1)[0]
    host = authority.rsplit("@", 1)[-1]
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name
    if not host:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host.lower()


def files(src):
    p = Path(src)
    return sorted(p.rglob("*.parquet")) if p.is_dir() else [p]


def main():
    src, db_path = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(db_path)
    # A bulk load into a new file: nothing to roll back to, so no journal and no fsync.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    names = list(COLUMNS)
    db.execute(f"CREATE TABLE pairs (id INTEGER PRIMARY KEY, {', '.join(f'[{n}]' for n in names + ['host'])})")
    insert = f"INSERT INTO pairs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    t0 = time.perf_counter()
    rows = 0
    with db:
        for f in files(src):
            pf = pq.ParquetFile(f)
            lower = {c.lower(): c for c in pf.schema_arrow.names}
            pick = [next((lower[c] for c in COLUMNS[n] if c in lower), None) for n in names]
            for batch in pf.iter_batches(batch_size=50_000, columns=[c for c in pick if c]):
                cols = [batch.column(c).to_pylist() if c else [None] * batch.num_rows for c in pick]
                db.executemany(insert, zip(*cols))
                rows += batch.num_rows
    t1 = time.perf_counter()
    with db:
        db.execute("CREATE VIRTUAL TABLE pairs_fts USING fts5(caption, content=[pairs], content_rowid=[id], tokenize='unicode61')")
        db.execute("INSERT INTO pairs_fts (pairs_fts) VALUES ('rebuild')")
    t2 = time.perf_counter()
    db.create_function("host_of", 1, host_of, deterministic=True)
    with db:
        db.execute("UPDATE pairs SET host = host_of(url)")
    t3 = time.perf_counter()
    db.close()
    print(json.dumps({"rows": rows, "insert_s": t1 - t0, "fts5_s": t2 - t1, "host_s": t3 - t2}))


if __name__ == "__main__":
    main()
