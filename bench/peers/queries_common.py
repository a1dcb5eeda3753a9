"""What the query peers share: reading bench/queries.json, the warm timing loop and the JSON
they print, which is the shape the benchmark driver's `queries` (crates/cli/examples/bench_driver.rs) prints too:

    {"queries": [{"name", "p50_ms", "min_ms", "max_ms", "runs", "result"}]}

`result` is the total number of matching rows for search and count queries (not the page), and
for facets the list of {"value", "count"} (hosts: the top N, nulls left out; histograms: one
entry per bucket [lo, hi) in order, value = lo, then {"value": null} for the null bucket).

A peer turns each query into a Plan: `timed` is the work a user waits for (the page query for a
search, the count, the facet query) and returns what it computed; `result`, when given, computes
the check value outside the timing (a search's total count: Datasette runs that as a separate
query with its own time limit, and it is not what a search page waits for).
"""

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass
class Plan:
    timed: Callable[[], Any]
    result: Optional[Callable[[], Any]] = None


def args(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--queries", required=True, help="bench/queries.json")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query, after one warm-up")
    ap.add_argument("--only", help="run just the query of this name")
    ap.add_argument("--budget-s", type=float, default=20.0,
                    help="a query whose warm-up run says `runs` runs would take longer than this gets "
                         "fewer timed runs (never fewer than 3)")
    ap.add_argument("--cold", action="store_true",
                    help="no warm-up and no check query: one run, for whole-process timing")
    return ap


def load(path, only=None):
    queries = json.loads(open(path).read())["queries"]
    if only:
        queries = [q for q in queries if q["name"] == only]
        if not queries:
            raise SystemExit(f"no query named {only!r} in {path}")
    return queries


def run(queries, plan, runs, cold=False, budget_s=None):
    """Runs every query warm: one untimed run each (also the result), then `runs` rounds over
    all queries (round-robin, so drift hits every query alike); a query slower than
    budget_s / runs gets only as many runs as fit the budget, at least 3. Prints the JSON.
    cold: no warm-up and no result, one run (whole-process timing)."""
    plans = [plan(q) for q in queries]
    runs = max(runs, 1)
    results, wanted = [], []
    for p in plans:
        if cold:
            results.append(None)
            wanted.append(1)
            continue
        t = time.perf_counter()
        value = p.timed()
        warm = time.perf_counter() - t
        results.append(p.result() if p.result else value)
        fit = runs if not budget_s or warm * runs <= budget_s else max(3, int(budget_s / warm))
        wanted.append(min(runs, fit))
    samples = [[] for _ in plans]
    for r in range(max(wanted, default=0)):
        for i, p in enumerate(plans):
            if r >= wanted[i]:
                continue
            t = time.perf_counter()
            p.timed()
            samples[i].append((time.perf_counter() - t) * 1000)
    out = {"queries": [
        {"name": q["name"], "p50_ms": statistics.median(s), "min_ms": min(s), "max_ms": max(s), "runs": len(s),
         "result": r}
        for q, s, r in zip(queries, samples, results)
    ]}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


def histogram(q, counted):
    """The facet list of a histogram query from {bucket index or None: count}."""
    k, lo, hi = q["buckets"], q["lo"], q["hi"]
    width = (hi - lo) / k
    return [{"value": lo + i * width, "count": counted.get(i, 0)} for i in range(k)] + [
        {"value": None, "count": counted.get(None, 0)}]


def terms(rows, top):
    return [{"value": v, "count": n} for v, n in rows[:top]]
