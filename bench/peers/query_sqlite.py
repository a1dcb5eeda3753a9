"""Runs bench/queries.json against the SQLite + FTS5 database that sqlite_fts5.py builds (the
Datasette way), with the SQL shapes Datasette and sqlite-utils issue:

- search: `select … from pairs join pairs_fts on pairs_fts.rowid = pairs.rowid
  where pairs_fts match :q [and WHERE] order by pairs_fts.rank | aesthetic desc, id limit 51`
  (Datasette asks for one row more than the page to know whether there is a next page); the
  words are quoted as Datasette's escape_fts() does, phrases are FTS5 phrases;
- URL prefix (Datasette's `url__startswith`): `where url like 'prefix%' order by id limit 51`;
- count: `select count(*)` over the same join;
- facets (Datasette's column facet): `select host, count(*) … where host is not null
  group by host order by count(*) desc, host limit N + 1`;
- histogram: `cast((aesthetic - lo) / width as int)` buckets, nulls counted apart.

No index beyond what sqlite-utils makes (the rowid, the FTS5 table). Usage:

    query_sqlite.py --db sqlite.db --queries bench/queries.json [--runs 5]
"""

import sqlite3

from queries_common import Plan, args, histogram, load, run, terms

COLUMNS = "pairs.id, pairs.url, pairs.caption, pairs.host, pairs.width, pairs.height, pairs.aesthetic, " \
          "pairs.punsafe, pairs.pwatermark, pairs.similarity"
FTS_JOIN = "pairs join pairs_fts on pairs_fts.rowid = pairs.rowid"


def fts_query(text):
    """pairscope QUERY → FTS5 MATCH: a "phrase" stays a phrase, each bare word is quoted (what
    Datasette's escape_fts does, so FTS5 operators in user text are literal)."""
    text = text.strip()
    if text.startswith('"'):
        return text
    return " ".join('"' + w.replace('"', '""') + '"' for w in text.split())


def like_prefix(prefix):
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where_clause(q, params):
    """FROM + WHERE for the rows a query selects (its words, filter, url prefix)."""
    conds = []
    source = "pairs"
    if q.get("query"):
        source = FTS_JOIN
        conds.append("pairs_fts match :q")
        params["q"] = fts_query(q["query"])
    if q.get("url"):
        conds.append("pairs.url like :url escape '\\'")
        params["url"] = like_prefix(q["url"])
    if q.get("where"):
        conds.append(f"({q['where']})")
    return source, conds


def planner(db):
    def all_rows(sql, params):
        return lambda: db.execute(sql, params).fetchall()

    def plan(q):
        params = {}
        source, conds = where_clause(q, params)
        where = f" where {' and '.join(conds)}" if conds else ""
        count_sql = f"select count(*) from {source}{where}"
        if q["kind"] == "search":
            if q["sort"] == "relevance":
                order = "pairs_fts.rank" if q.get("query") else "pairs.id"
            else:
                order = f"pairs.[{q['sort']}] {'desc' if q.get('desc', True) else 'asc'}, pairs.id"
            sql = f"select {COLUMNS} from {source}{where} order by {order} limit {q['limit'] + 1}"
            return Plan(all_rows(sql, params), lambda: db.execute(count_sql, params).fetchone()[0])
        if q["kind"] == "count":
            return Plan(lambda: db.execute(count_sql, params).fetchone()[0])
        if q["kind"] == "facets" and q.get("buckets"):
            col = f"pairs.[{q['by']}]"
            width = (q["hi"] - q["lo"]) / q["buckets"]
            sql = (f"select case when {col} is null then null else cast(({col} - :lo) / :width as int) end as b, "
                   f"count(*) from {source}{where}{' and' if where else ' where'} "
                   f"({col} is null or ({col} >= :lo and {col} < :hi)) group by b")
            params.update(lo=q["lo"], hi=q["hi"], width=width)
            return Plan(lambda: histogram(q, dict(db.execute(sql, params).fetchall())))
        if q["kind"] == "facets":
            col = f"pairs.[{q['by']}]"
            sql = (f"select {col}, count(*) from {source}{where}{' and' if where else ' where'} {col} is not null "
                   f"group by {col} order by count(*) desc, {col} limit {q['top'] + 1}")
            return Plan(lambda: terms(db.execute(sql, params).fetchall(), q["top"]))
        raise SystemExit(f"unknown query kind {q['kind']!r}")

    return plan


def main():
    ap = args(__doc__)
    ap.add_argument("--db", required=True)
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    run(load(a.queries, a.only), planner(db), a.runs, a.cold, a.budget_s)


if __name__ == "__main__":
    main()
