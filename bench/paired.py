#!/usr/bin/env python3
"""Two builds of pairscope, side by side: is the change free?

    bench/paired.py --before OLD_BIN --after NEW_BIN [--before-driver OLD_DRIVER]
                    [--after-driver NEW_DRIVER] [--rows 12M] [--pairs 5] [--runs 5]

A refactor must leave speed as it was, and the shared 2-core machine drifts by ±10% over
minutes, so one run of each proves nothing. This runs PAIRS pairs; in each pair both builds
run the same work back to back, in alternating order (before first in even pairs, after first
in odd ones), and the verdict is the median over pairs of the ratio after/before — drift
between pairs cancels, drift within a pair is split evenly between the builds.

The work, on the data bench/run caches in BENCH_DATA (make it with `bench/run --rows N` once):
- queries: the benchmark driver's `queries` (crates/cli/examples/bench_driver.rs; a build from
  before it left the binary, without a driver given, runs its hidden `pairscope bench-queries`)
  over bench/queries.json on the cached dataset (warm p50
  of RUNS runs per query, after a warm-up); both builds must return the same results;
- ingest: `pairscope ingest` of the cached synthetic source into a fresh dataset (wall time).

Prints one line per query and one for ingest (the median ratio and its range over pairs) and
writes everything to bench/out/paired-ROWS.json. A ratio above 1 means the new build is slower.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def queries(bin_path, driver, ds, query_file, runs):
    args = ["-d", ds, "--queries", query_file, "--runs", str(runs)]
    command = [driver, "queries", *args] if driver else [bin_path, "bench-queries", "--quiet", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return {q["name"]: (q["p50_ms"], q["result"]) for q in json.loads(out)["queries"]}


def ingest(bin_path, source, work):
    ds = work / "ds"
    shutil.rmtree(ds, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([bin_path, "ingest", "--quiet", "-d", ds, source], check=True)
    seconds = time.perf_counter() - start
    shutil.rmtree(ds, ignore_errors=True)
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the old build's binary (copy it out of the target dir)")
    ap.add_argument("--after", required=True, help="the new build's binary")
    ap.add_argument("--before-driver", help="the old build's bench_driver (none: `OLD_BIN bench-queries`)")
    ap.add_argument("--after-driver", help="the new build's bench_driver (none: `NEW_BIN bench-queries`)")
    ap.add_argument("--rows", default="12M", help="the cached size to use: 1M, 12M (default)")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query in each driver call")
    ap.add_argument("--skip-ingest", action="store_true")
    args = ap.parse_args()

    data = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    ds = data / f"ds-{args.rows}-laion-aesthetics"
    source = data / f"synth-{args.rows}-laion-aesthetics"
    for path in (ds / "CURRENT", source):
        if not path.exists():
            sys.exit(f"{path} is missing: run `bench/run --rows {args.rows}` once to make the cached data")
    work = HERE / "out" / "paired-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    builds = {"before": args.before, "after": args.after}
    drivers = {"before": args.before_driver, "after": args.after_driver}

    pairs = []
    for i in range(args.pairs):
        order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
        pair = {}
        for name in order:
            result = {"queries": queries(builds[name], drivers[name], ds, HERE / "queries.json", args.runs)}
            if not args.skip_ingest:
                result["ingest_s"] = ingest(builds[name], source, work)
            pair[name] = result
        for query, (_, before_result) in pair["before"]["queries"].items():
            after_result = pair["after"]["queries"][query][1]
            if after_result != before_result:
                sys.exit(f"{query!r}: the builds disagree: before {before_result!r}, after {after_result!r}")
        pairs.append(pair)
        ingest_note = "" if args.skip_ingest else \
            f", ingest {pair['before']['ingest_s']:.1f} s → {pair['after']['ingest_s']:.1f} s"
        print(f"pair {i + 1}/{args.pairs} done ({' then '.join(order)}{ingest_note})", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    def verdict(label, before, after):
        ratios = [a / b for a, b in zip(after, before)]
        line = (f"{label:<40} {statistics.median(before):9.2f} {statistics.median(after):9.2f}"
                f" {statistics.median(ratios):7.3f}  ({min(ratios):.3f}–{max(ratios):.3f})")
        return {"label": label, "before": before, "after": after, "ratios": ratios,
                "median_ratio": statistics.median(ratios)}, line

    rows, lines = [], []
    for query in pairs[0]["before"]["queries"]:
        row, line = verdict(query, [p["before"]["queries"][query][0] for p in pairs],
                            [p["after"]["queries"][query][0] for p in pairs])
        rows.append(row)
        lines.append(line)
    if not args.skip_ingest:
        row, line = verdict("ingest (s)", [p["before"]["ingest_s"] for p in pairs],
                            [p["after"]["ingest_s"] for p in pairs])
        rows.append(row)
        lines.append(line)
    print(f"{'':<40} {'before':>9} {'after':>9} {'ratio':>7}  (range over {args.pairs} pairs); ms unless marked")
    print("\n".join(lines))
    worst = max(rows, key=lambda r: r["median_ratio"])
    print(f"worst median ratio: {worst['median_ratio']:.3f} ({worst['label']})")
    out = HERE / "out" / f"paired-{args.rows}.json"
    out.write_text(json.dumps({"before": args.before, "after": args.after, "rows": args.rows,
                               "pairs": args.pairs, "runs": args.runs, "verdicts": rows}, indent=2))


if __name__ == "__main__":
    main()
