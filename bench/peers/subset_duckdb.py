"""The subset peer: DuckDB's COPY of the same rows to parquet, the way a user with the parquet and
DuckDB would cut a subset.

    COPY (SELECT * FROM read_parquet(files) WHERE <predicate>
          AND host NOT IN (hosts whose suffix is on the domain list)
          ORDER BY row_id) TO out (FORMAT parquet, COMPRESSION zstd)

The domain rule is pairscope's (a host is removed when it equals an entry or ends with "." +
entry), computed exactly: every distinct host's dot-suffixes are joined with the list. With
--dedup url, of rows with the same url the lowest row_id survives (QUALIFY row_number()).

Usage: subset_duckdb.py --files GLOB --where SQL [--domains FILE] [--dedup url] --out FILE
Prints {"rows": N}.
"""

import argparse
import json

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("--files", required=True)
ap.add_argument("--where", default="TRUE")
ap.add_argument("--domains")
ap.add_argument("--dedup", choices=["url"])
ap.add_argument("--out", required=True)
a = ap.parse_args()

con = duckdb.connect()
con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{a.files}', union_by_name=true)")
conditions = [f"({a.where})"]
if a.domains:
    con.execute("CREATE TABLE d AS SELECT trim(lower(column0)) AS e FROM read_csv(?, header=false, columns={'column0': 'VARCHAR'}) "
                "WHERE trim(column0) <> '' AND NOT starts_with(trim(column0), '#')", [a.domains])
    con.execute("""
        CREATE TABLE listed AS
        WITH hosts AS (SELECT DISTINCT host FROM t WHERE host IS NOT NULL),
             suffixes AS (
               SELECT host, array_to_string(list_slice(string_split(host, '.'), i, len(string_split(host, '.'))), '.') AS s
               FROM hosts, range(1, 128) r(i)
               WHERE i <= len(string_split(host, '.')))
        SELECT DISTINCT host FROM suffixes JOIN d ON suffixes.s = d.e""")
    conditions.append("(host IS NULL OR host NOT IN (SELECT host FROM listed))")
query = f"SELECT * FROM t WHERE {' AND '.join(conditions)}"
if a.dedup == "url":
    query += " QUALIFY row_number() OVER (PARTITION BY url ORDER BY row_id) = 1"
con.execute(f"COPY ({query} ORDER BY row_id) TO '{a.out}' (FORMAT parquet, COMPRESSION zstd)")
rows = con.execute(f"SELECT count(*) FROM read_parquet('{a.out}')").fetchone()[0]
print(json.dumps({"rows": rows}))
