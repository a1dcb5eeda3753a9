"""Runs bench/queries.json with DuckDB scanning the synth parquet files directly
(`read_parquet([...])`, nothing loaded or indexed beforehand): what a user with the parquet and
no search engine does.

- a word is matched whole, as pairscope tokenises: the lower-cased caption must contain it
  with no letter, mark or number on either side (`contains(lower(caption), 'word') AND
  regexp_matches(lower(caption), '(^|[^\\pL\\pM\\pN])word([^\\pL\\pM\\pN]|$)')`; with score
  filters, `regexp_matches(caption, '(?i)…')` alone, 2× faster there because DuckDB lowers
  every caption before the filters prune); a "two words" phrase allows any run of separators
  between its words;
- search: the matching rows `order by aesthetic desc nulls last` or, for relevance (DuckDB has
  no ranking without an index), in scan order, `limit N`; the total count is a separate,
  untimed `count(*)`;
- URL prefix: `starts_with(url, prefix)`;
- host is the url's authority, lower-cased (`lower(split_part(url, '/', 3))`): what pairscope
  derives for the plain `https://host/…` URLs synth makes (it does not strip credentials or a
  port: a shortcut in DuckDB's favour, 2–4× cheaper than doing so; the check column would show a
  difference); NaN scores are nulls, as pairscope's ingest makes them;
- facets: `group by host order by count(*) desc, host limit N`; the histogram
  `floor((aesthetic - lo) / width)` with nulls apart.

Usage: query_duckdb.py --data PARQUET_DIR --queries bench/queries.json [--runs 5]
"""

import re
from pathlib import Path

import duckdb

from queries_common import Plan, args, histogram, load, run, terms

TOKEN = r"\pL\pM\pN"


def score(col):
    return f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END AS {col.lower()}"


def view(files):
    # No row filter: synth (like LAION) has no row without url or caption, the rows pairscope's
    # ingest would skip; the check column would show it if that changed.
    return f"""CREATE VIEW pairs AS SELECT
        URL AS url, TEXT AS caption, WIDTH AS width, HEIGHT AS height,
        {score('similarity')}, {score('punsafe')}, {score('pwatermark')}, {score('aesthetic')},
        lower(split_part(URL, '/', 3)) AS host
      FROM read_parquet({[str(f) for f in files]!r})"""


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def match(text, filtered):
    """pairscope QUERY (one word or one "phrase") → a whole-word predicate on the caption; the
    fastest form we measured for the shape (filtered: the query has other, cheap conditions)."""
    words = re.findall(r"[^\s\"]+", text.lower())
    if not words or (not text.strip().startswith('"') and len(words) > 1):
        raise SystemExit(f"query_duckdb.py handles one word or one phrase, not {text!r}")
    pattern = f"(^|[^{TOKEN}])" + f"[^{TOKEN}]+".join(re.escape(w) for w in words) + f"([^{TOKEN}]|$)"
    if filtered:
        return f"regexp_matches(caption, {sql_str('(?i)' + pattern)})"
    prefilter = " AND ".join(f"contains(lower(caption), {sql_str(w)})" for w in words)
    return f"({prefilter} AND regexp_matches(lower(caption), {sql_str(pattern)}))"


def planner(db):
    def plan(q):
        conds = []  # cheapest first: DuckDB evaluates a conjunction left to right on what passes
        if q.get("where"):
            conds.append(f"({q['where']})")
        if q.get("url"):
            conds.append(f"starts_with(url, {sql_str(q['url'])})")
        if q.get("query"):
            conds.append(match(q["query"], filtered=bool(conds)))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        count_sql = f"SELECT count(*) FROM pairs{where}"
        if q["kind"] == "search":
            order = "" if q["sort"] == "relevance" else \
                f" ORDER BY {q['sort']} {'DESC' if q.get('desc', True) else 'ASC'} NULLS LAST"
            sql = f"SELECT * FROM pairs{where}{order} LIMIT {q['limit']}"
            return Plan(lambda: db.execute(sql).fetchall(), lambda: db.execute(count_sql).fetchone()[0])
        if q["kind"] == "count":
            return Plan(lambda: db.execute(count_sql).fetchone()[0])
        if q["kind"] == "facets" and q.get("buckets"):
            col, lo, hi = q["by"], q["lo"], q["hi"]
            width = (hi - lo) / q["buckets"]
            keep = f"({col} IS NULL OR ({col} >= {lo} AND {col} < {hi}))"
            sql = (f"SELECT CAST(floor(({col} - {lo}) / {width}) AS INTEGER) AS b, count(*) FROM pairs "
                   f"{where + ' AND ' if where else 'WHERE '}{keep} GROUP BY b")
            return Plan(lambda: histogram(q, dict(db.execute(sql).fetchall())))
        if q["kind"] == "facets":
            col = q["by"]
            sql = (f"SELECT {col}, count(*) FROM pairs {where + ' AND ' if where else 'WHERE '}{col} IS NOT NULL "
                   f"GROUP BY {col} ORDER BY count(*) DESC, {col} LIMIT {q['top']}")
            return Plan(lambda: terms(db.execute(sql).fetchall(), q["top"]))
        raise SystemExit(f"unknown query kind {q['kind']!r}")

    return plan


def main():
    ap = args(__doc__)
    ap.add_argument("--data", required=True, help="the synth parquet directory (or one file)")
    a = ap.parse_args()
    p = Path(a.data)
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    db = duckdb.connect()
    db.execute(view(files))
    run(load(a.queries, a.only), planner(db), a.runs, a.cold, a.budget_s)


if __name__ == "__main__":
    main()
