"""Runs pairscope and its peers side by side on the same data and writes bench/REPORT.md.

Called by bench/run, which builds the binary and prepares the venv. Each comparison runs its
peers alternately (A B A B …) so drift on the machine hits all of them alike; the table shows
medians, the ratio to pairscope, and each process's peak RSS (from wait4, per process).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parse_rows(text):
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * scale)


def human_rows(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def run_timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS bytes, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = b"", b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read()
    err = proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"command failed with exit code {code}: {' '.join(map(str, cmd))}")
    return elapsed, usage.ru_maxrss * 1024, out.decode(errors="replace")


class Peer:
    def __init__(self, name, command, setup=None, parse=None):
        self.name, self.command, self.setup, self.parse = name, command, setup, parse
        self.times, self.rss, self.details = [], [], []


def compare(title, peers, runs):
    print(f"== {title}", file=sys.stderr)
    for i in range(runs):
        for peer in peers:
            if peer.setup:
                peer.setup()
            seconds, rss, out = run_timed(peer.command)
            peer.times.append(seconds)
            peer.rss.append(rss)
            if peer.parse:
                peer.details.append(peer.parse(out))
            print(f"   run {i + 1}/{runs} {peer.name}: {seconds:.2f} s, {rss / 2**20:.0f} MiB", file=sys.stderr)
    base = statistics.median(peers[0].times)
    return {
        "title": title,
        "peers": [
            {
                "name": p.name,
                "median_s": statistics.median(p.times),
                "min_s": min(p.times),
                "max_s": max(p.times),
                "runs": len(p.times),
                "peak_rss_bytes": max(p.rss),
                "ratio_to_pairscope": statistics.median(p.times) / base,
                "details": p.details[-1] if p.details else None,
            }
            for p in peers
        ],
    }


def ensure_synth(bin_path, rows, data_dir):
    out = data_dir / f"synth-{human_rows(rows)}-laion-aesthetics"
    if not (out / "synth.json").exists():
        print(f"== generating {rows} synthetic rows into {out}", file=sys.stderr)
        if out.exists():
            shutil.rmtree(out)
        seconds, _, _ = run_timed([bin_path, "synth", "--quiet", "--rows", str(rows), "--seed", "42",
                                   "--schema", "laion-aesthetics", "--out", str(out)])
        print(f"   synth: {seconds:.1f} s ({rows / seconds:,.0f} rows/s)", file=sys.stderr)
    return out


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1), "os": platform.platform()}


def versions(bin_path):
    import sqlite3
    import duckdb
    import pyarrow

    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    return {
        "pairscope": subprocess.run([bin_path, "--version"], capture_output=True, text=True).stdout.strip().removeprefix("pairscope ")
        + f" (git {rev}{'+dirty' if dirty else ''})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pyarrow": pyarrow.__version__,
        "duckdb": duckdb.__version__,
    }


def ingest_comparison(bin_path, data, work, runs):
    ds = work / "ds"
    db = work / "sqlite.db"

    def clean_ds():
        shutil.rmtree(ds, ignore_errors=True)

    def clean_db():
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(db) + suffix).unlink(missing_ok=True)

    pairscope = Peer("pairscope ingest", [bin_path, "ingest", "--quiet", "--json", "--dataset", str(ds), str(data)],
                     setup=clean_ds, parse=lambda out: {"rows": json.loads(out)["rows_added"]})
    sqlite = Peer("SQLite insert + FTS5 build (Datasette way)",
                  [sys.executable, str(HERE / "peers" / "sqlite_fts5.py"), str(data), str(db)],
                  setup=clean_db, parse=json.loads)
    result = compare("ingest: parquet → queryable dataset", [pairscope, sqlite], runs)
    result["sizes"] = {"pairscope_dataset_bytes": dir_size(ds), "sqlite_db_bytes": db.stat().st_size if db.exists() else None}
    return result


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def render(results_dir, report_path):
    lines = [
        "# pairscope benchmarks",
        "",
        "Generated by `bench/run`; each section is one run of it (`bench/run --rows N`), peers side by side",
        "on the same data, alternating runs, medians. Ratios are peer time / pairscope time (> 1: pairscope",
        "is faster). Peak RSS is per process (wait4). Re-run: `bench/run --rows 1M` or `--rows 12M`.",
        "",
    ]
    for path in sorted(results_dir.glob("*.json"), key=lambda p: json.loads(p.read_text())["rows"]):
        r = json.loads(path.read_text())
        lines += [f"## {human_rows(r['rows'])} rows — {r['date']}", ""]
        m, v = r["machine"], r["versions"]
        lines += [
            f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}",
            f"- versions: {', '.join(f'{k} {val}' for k, val in v.items())}",
            f"- data: `pairscope synth --rows {r['rows']} --seed 42 --schema laion-aesthetics` "
            f"({r['data_bytes'] / 2**20:,.0f} MiB of parquet)",
            f"- runs per command: {r['runs']}",
            "",
        ]
        for c in r["comparisons"]:
            lines += [f"### {c['title']}", "", "| command | median s | min s | max s | ratio | peak RSS | notes |",
                      "|---|---:|---:|---:|---:|---:|---|"]
            for p in c["peers"]:
                notes = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in (p["details"] or {}).items())
                lines.append(f"| {p['name']} | {p['median_s']:.2f} | {p['min_s']:.2f} | {p['max_s']:.2f} | "
                             f"{p['ratio_to_pairscope']:.2f}× | {p['peak_rss_bytes'] / 2**20:,.0f} MiB | {notes} |")
            if "sizes" in c:
                s = c["sizes"]
                lines.append("")
                lines.append(f"On disk: pairscope dataset {s['pairscope_dataset_bytes'] / 2**20:,.0f} MiB; "
                             f"SQLite database {(s['sqlite_db_bytes'] or 0) / 2**20:,.0f} MiB.")
            lines.append("")
    report_path.write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", default="1M", help="1M, 12M or any count")
    ap.add_argument("--smoke", action="store_true", help="~10k rows, one run each, report not kept")
    args = ap.parse_args()

    rows = 10_000 if args.smoke else parse_rows(args.rows)
    runs = 1 if args.smoke else int(os.environ.get("BENCH_RUNS", "3"))
    data_dir = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    work = HERE / "out" / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = ensure_synth(args.bin, rows, data_dir)

    comparisons = [ingest_comparison(args.bin, data, work, runs)]
    result = {
        "rows": rows,
        "runs": runs,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "versions": versions(args.bin),
        "data_bytes": dir_size(data),
        "comparisons": comparisons,
    }
    shutil.rmtree(work, ignore_errors=True)
    if args.smoke:
        out = HERE / "out" / "smoke.json"
        out.write_text(json.dumps(result, indent=2))
        render(HERE / "out", HERE / "out" / "SMOKE.md")
        print(f"smoke benchmark ok: {HERE / 'out' / 'SMOKE.md'}", file=sys.stderr)
        return
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"{human_rows(rows)}.json").write_text(json.dumps(result, indent=2))
    render(results, HERE / "REPORT.md")
    print((HERE / "REPORT.md").read_text())


if __name__ == "__main__":
    main()
