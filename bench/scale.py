"""How pairscope's costs grow with the dataset: 1M, 12M and 100M rows of the same synthetic data,
pairscope alone (the peers' comparisons are bench/run's, at 12M and below), one JSON per size in
bench/results/scale-N.json and the growth table in bench/REPORT.md (rendered by bench.py).

Called by bench/scale, which builds the binary and the benchmark driver. Per size, in order, each
step kept as soon as it is measured, so a killed run resumes at the step it was in:
  ingest      `pairscope ingest` of the synth files into a new dataset (wall, rows/s, peak RSS, bytes)
  queries     bench/queries.json through the driver (warm p50 of each, and with the total)
  one-shot    whole-process `search` and `count`, median of 10
  server      `serve`: the first search page, overview and mentions page of a new process, then of
              a second one started after it (what a restart costs: the kept per-version caches are
              read, not computed), and the server's anonymous RSS after a round of pages
  mentions    `mentions --names builtin:artists --by domain --no-cache`, as users run it (through the
              full-text index) and with `--scan` (reading every caption), in raw caption bytes
              per second of the whole command
The synth data and the datasets are cached under BENCH_DATA (default bench/data): a size whose
dataset is there is not ingested again (its ingest numbers are in its results file), and
`--again queries,server` measures those steps again on it, keeping the others' numbers. A step's
results record the pairscope that measured it ("measured_with").

It refuses to start with less free space than the sizes whose data is not cached yet need (45 GB
for 100M: ~12 GB of synth parquet and ~21 GB of dataset, with room to spare).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import bench
from bench import HERE, human_rows, parse_rows, run_measured

# What a row costs on disk while a size runs (synth parquet + dataset), from the 12M run, and the
# floor the issue sets when the 100M size is asked for.
BYTES_PER_ROW = 350
FLOOR_100M = 45 * 10**9
STEPS = ("ingest", "queries", "one_shot", "server", "mentions")
SERVER_PAGES = {
    "search": "/search.json?q=dog&limit=50",
    "overview": "/overview.json",
    "mentions": "/mentions.json",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--sizes", default="1M,12M,100M", help="comma-separated row counts (default 1M,12M,100M)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per query inside the driver")
    ap.add_argument("--again", nargs="?", const=",".join(STEPS), default=None, metavar="STEPS",
                    help=f"measure again the sizes that have results: every step, or these (comma-separated: "
                         f"{','.join(STEPS)}; the others' results are kept, the dataset reused)")
    ap.add_argument("--smoke", action="store_true", help="10k and 30k rows, one run each, nothing kept")
    args = ap.parse_args()
    sizes = [10_000, 30_000] if args.smoke else [parse_rows(s) for s in args.sizes.split(",")]
    data_dir = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    results_dir = Path(os.environ.get("BENCH_RESULTS", HERE / "results"))
    if args.smoke:
        data_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"pairscope-scale-smoke-{os.getpid()}"
        results_dir = data_dir / "results"
    data_dir.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    again = set(args.again.split(",")) if args.again else set(STEPS)
    refuse_without_space(data_dir, sizes, "ingest" in again)
    try:
        for rows in sizes:
            path = results_dir / f"scale-{human_rows(rows)}.json"
            if path.exists() and args.again is None:
                print(f"== {human_rows(rows)}: kept results ({path}); --again measures it again", file=sys.stderr)
                continue
            if again - set(STEPS):
                raise SystemExit(f"bench/scale: --again takes steps among {','.join(STEPS)}")
            measure_size(args, rows, data_dir, path, again)
        if not args.smoke:
            bench.render(results_dir, Path(os.environ.get("BENCH_REPORT", HERE / "REPORT.md")))
    finally:
        if args.smoke:
            shutil.rmtree(data_dir, ignore_errors=True)


def refuse_without_space(data_dir, sizes, ingesting):
    """Refuses to start without room for the sizes whose data is not cached yet (data is kept):
    a size needs its synth data only to be ingested (again)."""
    def cached(rows):
        dataset = (data_dir / f"scale-ds-{human_rows(rows)}" / "CURRENT").exists()
        synth = (data_dir / f"synth-{human_rows(rows)}-laion-aesthetics").exists()
        return dataset and (synth or not ingesting)
    missing = [rows for rows in sizes if not cached(rows)]
    needed = sum(FLOOR_100M if rows >= 100_000_000 else rows * BYTES_PER_ROW * 3 // 2 for rows in missing)
    free = shutil.disk_usage(data_dir).free
    if free < needed:
        raise SystemExit(f"bench/scale: {free / 1e9:.1f} GB free under {data_dir}, and the data of "
                         f"{', '.join(map(human_rows, missing))} rows needs {needed / 1e9:.0f} GB: "
                         "free some space or set BENCH_DATA elsewhere")


def measure_size(args, rows, data_dir, path, again):
    """The steps of one size (those in `again`, the others kept from `path`), each kept in a
    partial results file as soon as it is measured."""
    partial = path.with_suffix(".partial.json")
    if partial.exists():
        result = json.loads(partial.read_text())
    else:
        kept = json.loads(path.read_text()) if path.exists() else {"steps": {}, "measured_with": {}}
        result = {"kind": "scale", "rows": rows, "machine": bench.machine(),
                  "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "steps": {name: value for name, value in kept["steps"].items() if name not in again},
                  "measured_with": {name: value for name, value in kept.get("measured_with", {}).items()
                                    if name not in again}}
    steps = result["steps"]
    version = bench.versions(args.bin)["pairscope"]

    def keep(name, value):
        steps[name] = value
        result["measured_with"][name] = version
        partial.write_text(json.dumps(result, indent=1))

    ds = data_dir / f"scale-ds-{human_rows(rows)}"
    if "ingest" not in steps or not (ds / "CURRENT").exists():
        src = bench.ensure_synth(args.bin, rows, data_dir)
        keep("ingest", ingest(args.bin, src, ds, rows))
    queries_runs = 1 if args.smoke else args.runs
    if "queries" not in steps:
        keep("queries", queries(args.driver, ds, queries_runs))
    if "one_shot" not in steps:
        keep("one_shot", one_shot(args.bin, ds, 3 if args.smoke else 10))
    if "server" not in steps:
        # What the first server of a new version finds: no kept caches.
        shutil.rmtree(ds / "cache", ignore_errors=True)
        keep("server", server(args.bin, ds))
    if "mentions" not in steps:
        keep("mentions", mentions(args.bin, ds))
    path.write_text(json.dumps(result, indent=1))
    partial.unlink()


def ingest(bin_path, src, ds, rows):
    print(f"== {human_rows(rows)}: ingest", file=sys.stderr)
    shutil.rmtree(ds, ignore_errors=True)
    measured = run_measured([bin_path, "ingest", "--quiet", "--dataset", ds, src])
    return {"seconds": measured.seconds, "rows_per_s": rows / measured.seconds, "peak_rss": measured.peak_rss,
            "cpu_s": measured.cpu_s, "dataset_bytes": bench.dir_size(ds)}


def queries(driver, ds, runs):
    print(f"== {ds.name}: queries", file=sys.stderr)
    out = run_measured([driver, "queries", "--dataset", ds, "--queries", HERE / "queries.json", "--runs", runs]).out
    return {q["name"]: {"p50_ms": q["p50_ms"], "p50_with_total_ms": q.get("p50_with_total_ms")}
            for q in json.loads(out)["queries"]}


def one_shot(bin_path, ds, runs):
    """Whole-process medians: what a one-shot command costs beyond starting at all."""
    print(f"== {ds.name}: one-shot commands", file=sys.stderr)
    commands = {
        "version": [bin_path, "--version"],
        "search": [bin_path, "search", "--dataset", ds, '"thomas kinkade"', "--sort", "aesthetic", "--limit", "50",
                   "--json"],
        "count": [bin_path, "count", "--dataset", ds, "kitchen"],
    }
    times = {name: [] for name in commands}
    for _ in range(runs):  # alternating
        for name, command in commands.items():
            times[name].append(run_measured(command).seconds * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def server(bin_path, ds):
    """The first pages of a new server process, twice: the first process computes what it keeps
    beside the version, the second (a restart) finds it."""
    print(f"== {ds.name}: server first pages", file=sys.stderr)
    rounds = []
    for _ in range(2):
        proc = subprocess.Popen([bin_path, "serve", "--quiet", "--dataset", ds, "--bind", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, text=True)
        try:
            base = next(line.strip().rstrip("/") for line in proc.stdout if line.startswith("http://"))
            first = {name: get_ms(base + page) for name, page in SERVER_PAGES.items()}
            second = {name: get_ms(base + page) for name, page in SERVER_PAGES.items()}
            rounds.append({"first_ms": first, "second_ms": second, "anon_rss": anonymous_rss(proc.pid)})
        finally:
            proc.kill()
            proc.wait()
    return {"new": rounds[0], "restarted": rounds[1]}


def get_ms(url):
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=3600) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def anonymous_rss(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return None


def mentions(bin_path, ds):
    """Every built-in artist broken down by domain: through the index (the default) and by the
    caption scan (`--scan`; the top-level numbers, as older results have them)."""
    print(f"== {ds.name}: mentions --by domain", file=sys.stderr)
    out = run_measured([bin_path, "sql", "--dataset", ds, "SELECT sum(octet_length(caption)) AS b FROM pairs",
                        "--format", "json"]).out
    caption_bytes = json.loads(out)[0]["b"]
    command = [bin_path, "mentions", "--dataset", ds, "--names", "builtin:artists", "--by", "domain", "--no-cache",
               "--quiet", "--format", "json"]
    # The index first: the scan reads every caption, which at 100M rows pushes the index's
    # files out of a 24 GB page cache.
    indexed, scanned = run_measured(command), run_measured(command + ["--scan"])
    if json.loads(scanned.out)["entities"] != json.loads(indexed.out)["entities"]:
        raise SystemExit(f"{ds}: mentions through the index and by the scan differ")
    return {"seconds": scanned.seconds, "caption_bytes": caption_bytes,
            "bytes_per_s": caption_bytes / scanned.seconds, "peak_rss": scanned.peak_rss,
            "by_index": {"seconds": indexed.seconds, "bytes_per_s": caption_bytes / indexed.seconds,
                         "peak_rss": indexed.peak_rss}}


if __name__ == "__main__":
    main()
