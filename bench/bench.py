"""Runs pairscope and its peers side by side on the same data and writes bench/REPORT.md.

Called by bench/run, which builds the binary and prepares the venv. Each comparison runs its
peers alternately (A B A B …) so drift on the machine hits all of them alike; the table shows
medians, the ratio to pairscope, and each process's peak RSS (GNU time's %M, per process; wait4 without it).

Comparisons: ingest (pairscope ingest vs the SQLite + FTS5 build); queries (bench/queries.json
run warm in one process per engine: the benchmark driver's `queries` (the library API pairscope's
commands call), peers/query_sqlite.py over the
database the ingest comparison built, peers/query_duckdb.py over the parquet); whole-process CLI
times of three of those queries, and of a selective search and a count next to
`pairscope --version` (the floor of a one-shot command); mentions (every name of
../shared/data/names/artists-5265.txt counted over every caption: pairscope mentions vs a Python
pyahocorasick reference with the same semantics, whose counts must agree, and SQLite FTS5 one
query per name; the caption-reading floor; 100 and 50,000 names for growth; skipped without ../shared); subset (pairscope subset vs DuckDB
COPY); collect (pairscope collect on one core vs cc2dataset's own WAT extractor vs `gzip -dc` on
a ~1.1 GB WAT file varied from real records by make_wat.py, then --threads 2 vs 1 over two such
files; skipped without ../shared). Until the binary has
the driver (or `search`, `count`, `facets`) the report says so and the peers still run; a
peer that crashes or prints anything but the expected JSON stops the run.

Environment, besides bench/run's: BENCH_QUERY_RUNS (timed runs per query inside each engine's
process, default 5, smoke 2), BENCH_QUERY_ROUNDS (engine processes run alternately this many
times, default 2, smoke 1), BENCH_RESULTS (write the per-size JSON and REPORT.md there instead
of bench/results and bench/REPORT.md: a trial run that leaves the committed report alone),
BENCH_BIN_COMMIT (the commit a prebuilt --bin was built from, recorded instead of the tree's).

`--only vectors` (bench/vectors.py, not part of the full or smoke run yet): pairscope's
embeddings ingest, similar and dups beside faiss-cpu's IVF-PQ on the same vectors; its own
environment variables are described there.
"""

import argparse
import collections
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")  # the peers import a helper: no __pycache__ in the clone


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


# GNU time measures a command's peak RSS from a small parent of its own: wait4's ru_maxrss of a
# child of this process starts at this process's RSS (the forked copy is counted before exec),
# which made every small command look as large as the benchmark's Python (~150 MiB late in a run).
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run_timed(cmd, env=None):
    """Runs cmd; returns (seconds, peak RSS bytes, stdout)."""
    measured = run_measured(cmd, env)
    return measured.seconds, measured.peak_rss, measured.out


Measured = collections.namedtuple("Measured", "seconds peak_rss out cpu_s")


def run_measured(cmd, env=None):
    """Runs cmd; returns its wall seconds, peak RSS bytes, stdout and CPU seconds (user + sys, its
    children included). The pipes are drained while it runs: a child printing more than a pipe
    holds (64 KiB) would otherwise block, never to exit."""
    rss_file = None
    if GNU_TIME:
        fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
        os.close(fd)
        cmd = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file, *map(str, cmd)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    drained = {}
    readers = [threading.Thread(target=lambda key, pipe: drained.__setitem__(key, pipe.read()), args=(key, pipe))
               for key, pipe in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    for reader in readers:
        reader.join()
    out, err = drained["out"], drained["err"]
    peak = usage.ru_maxrss * 1024
    if rss_file:
        with open(rss_file) as f:
            words = f.read().split()
        os.unlink(rss_file)
        if words and words[-1].isdigit():
            peak = int(words[-1]) * 1024
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        sys.stderr.write(err.decode(errors="replace"))
        raise SystemExit(f"command failed with exit code {code}: {' '.join(map(str, cmd))}")
    return Measured(elapsed, peak, out.decode(errors="replace"), usage.ru_utime + usage.ru_stime)


class Peer:
    def __init__(self, name, command, setup=None, parse=None):
        self.name, self.command, self.setup, self.parse = name, command, setup, parse
        self.times, self.rss, self.cpu, self.details = [], [], [], []


def compare(title, peers, runs, base_is_pairscope=True):
    """Runs the peers alternately; ratios are to peers[0], which is pairscope unless
    base_is_pairscope is false (pairscope's command not available yet: no ratios)."""
    print(f"== {title}", file=sys.stderr)
    for i in range(runs):
        for peer in peers:
            if peer.setup:
                peer.setup()
            seconds, rss, out, cpu = run_measured(peer.command)
            peer.times.append(seconds)
            peer.rss.append(rss)
            peer.cpu.append(cpu)
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
                "cores": statistics.median(c / t for c, t in zip(p.cpu, p.times)),
                "ratio_to_pairscope": statistics.median(p.times) / base if base_is_pairscope else None,
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
    if os.environ.get("BENCH_BIN_COMMIT"):  # a prebuilt --bin: the commit it was built from, not the tree's
        rev, dirty = os.environ["BENCH_BIN_COMMIT"], ""
    return {
        "pairscope": subprocess.run([bin_path, "--version"], capture_output=True, text=True).stdout.strip().removeprefix("pairscope ")
        + f" (git {rev}{'+dirty' if dirty else ''})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pyarrow": pyarrow.__version__,
        "duckdb": duckdb.__version__,
        "pyahocorasick": installed_version("pyahocorasick"),
    }


def installed_version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"



INGEST_REFERENCE_ROWS = 12_000_000  # the multi-file reference: synth writes 1M rows per file


def ingest_comparison(bin_path, data, work, runs, reference=None):
    """pairscope's ingest of `data` beside SQLite's lean load of it and, when `reference` (a
    directory of 12 synth files) is given, beside pairscope's ingest of those: the rows/s a
    one-file ingest must keep up with (issue 16)."""
    ds = work / "ds"
    db = work / "sqlite.db"
    reference_ds = work / "reference-ds"

    def clean_ds():
        shutil.rmtree(ds, ignore_errors=True)

    def clean_reference():
        shutil.rmtree(reference_ds, ignore_errors=True)

    def clean_db():
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(db) + suffix).unlink(missing_ok=True)

    files = len(list(Path(data).glob("*.parquet")))
    pairscope = Peer(f"pairscope ingest ({files} file{'s' if files > 1 else ''})",
                     [bin_path, "ingest", "--quiet", "--json", "--dataset", str(ds), str(data)],
                     setup=clean_ds, parse=lambda out: {"rows": json.loads(out)["rows_added"]})
    sqlite = Peer("SQLite insert + FTS5 build + host column (whole process)",
                  [sys.executable, str(HERE / "peers" / "sqlite_fts5.py"), str(data), str(db)],
                  setup=clean_db, parse=json.loads)
    peers = [pairscope, sqlite]
    if reference:
        peers.append(Peer(f"pairscope ingest, reference: {human_rows(INGEST_REFERENCE_ROWS)} rows in 12 files",
                          [bin_path, "ingest", "--quiet", "--json", "--dataset", str(reference_ds), str(reference)],
                          setup=clean_reference, parse=lambda out: {"rows": json.loads(out)["rows_added"]}))
    result = compare("ingest: parquet → queryable dataset", peers, runs)
    clean_reference()
    # SQLite's own load, timed inside the process: without Python's start-up and without the
    # host column, which SQLite cannot derive and Python does row by row (bench/peers/sqlite_fts5.py).
    lean = [d["insert_s"] + d["fts5_s"] for d in sqlite.details]
    base = result["peers"][0]["median_s"]
    result["peers"].insert(2, {
        "name": "SQLite insert + FTS5 build, lean (in-process phases only)", "median_s": statistics.median(lean),
        "min_s": min(lean), "max_s": max(lean), "runs": len(lean), "peak_rss_bytes": max(sqlite.rss),
        "cores": None, "ratio_to_pairscope": statistics.median(lean) / base, "details": None})
    rows_per_s = lambda peer: peer["details"]["rows"] / peer["median_s"]  # noqa: E731
    ours = result["peers"][0]
    result["targets"] = {"cores": ours["cores"], "lean_ratio": statistics.median(lean) / base}
    if reference:
        result["peers"][-1]["ratio_to_pairscope"] = None  # other data: rows/s compare, times do not
        result["targets"]["of_reference_rate"] = rows_per_s(ours) / rows_per_s(result["peers"][-1])
    result["sizes"] = {"pairscope_dataset_bytes": dir_size(ds), "sqlite_db_bytes": db.stat().st_size if db.exists() else None}
    return result


def dir_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ---- queries: the same query set, warm, in one process per engine ---------------------------

NOT_AVAILABLE = "the benchmark driver (examples/bench_driver.rs) not available"
QUERY_PEERS = ("pairscope", "SQLite FTS5", "DuckDB")


def has_command(bin_path, command):
    """Whether the binary has this subcommand (clap exits 0 for `CMD --help`, 2 if unknown)."""
    return subprocess.run([bin_path, command, "--help"], capture_output=True).returncode == 0


def parse_query_output(name, out, queries):
    """A peer's JSON, checked against the contract; any deviation stops the run."""
    try:
        got = json.loads(out)["queries"]
    except (ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{name}: output is not {{\"queries\": [...]}} JSON ({e}): {out[:500]!r}")
    names = [q["name"] for q in queries]
    if [g.get("name") for g in got] != names:
        raise SystemExit(f"{name}: query names {[g.get('name') for g in got]} != queries.json's {names}")
    for g in got:
        missing = {"p50_ms", "min_ms", "max_ms", "runs", "result"} - set(g)
        if missing:
            raise SystemExit(f"{name}: query {g['name']!r} lacks {sorted(missing)}")
    return got


def facet_entries(result):
    """A facet list as {value: count}, zero counts and null hosts dropped (histogram entries
    may say "lo" instead of "value")."""
    entries = {}
    for e in result or []:
        value = e.get("value", e.get("lo"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = round(float(value), 9)
        if e["count"]:
            entries[value] = e["count"]
    return entries


def facets_agree(a, b, top=None, terms=False):
    """Exact agreement of two facet lists. For a top-N term facet the entries tied with the
    N-th count may legitimately differ (which of the tied values make the cut), so for the
    lowest count only the number of entries must agree."""
    a, b = facet_entries(a), facet_entries(b)
    if terms:
        a.pop(None, None)
        b.pop(None, None)
    if not terms or not a or not b:
        return a == b
    if sorted(a.values(), reverse=True) != sorted(b.values(), reverse=True):
        return False
    cut = min(a.values())
    return {k: v for k, v in a.items() if v > cut} == {k: v for k, v in b.items() if v > cut}


def check(q, results):
    """'agree' when every engine that answered gives the same result; otherwise what differs."""
    have = {k: v for k, v in results.items() if v is not None}
    if len(have) < 2:
        return "—"
    first_name, first = next(iter(have.items()))
    if q["kind"] == "facets":
        same = all(facets_agree(first, v, terms=not q.get("buckets")) for v in have.values())
    else:
        same = all(v == first for v in have.values())
    label = "agree" if len(have) == len(QUERY_PEERS) else f"agree ({', '.join(have)})"
    if same:
        return label
    if q["kind"] == "facets":
        return "DIFFER: " + "; ".join(f"{k} {summary(q, v)}" for k, v in have.items())
    return "DIFFER: " + ", ".join(f"{k} {v}" for k, v in have.items())


def summary(q, result):
    if result is None:
        return "—"
    if q["kind"] != "facets":
        return f"{result:,}"
    entries = facet_entries(result)
    if q.get("buckets"):
        return f"{sum(entries.values()):,} rows in {len(entries)} buckets ({entries.get(None, 0):,} null)"
    top = next(iter(result), None)
    return f"{len(result)} values, top {top['value']} {top['count']:,}" if top else "0 values"


def queries_comparison(driver, data, ds, db, queries_path, runs, rounds):
    """Each engine runs the whole query set warm in one process (`runs` timed runs per query
    after a warm-up); the processes alternate for `rounds` rounds; per query the table shows the
    median of the rounds' p50s."""
    title = "queries: warm, in one process per engine"
    print(f"== {title}", file=sys.stderr)
    queries = json.loads(Path(queries_path).read_text())["queries"]
    py = sys.executable
    commands = {
        "pairscope": [driver, "queries", "--dataset", str(ds), "--queries", str(queries_path),
                      "--runs", str(runs)],
        "SQLite FTS5": [py, str(HERE / "peers" / "query_sqlite.py"), "--db", str(db), "--queries", str(queries_path),
                        "--runs", str(runs)],
        "DuckDB": [py, str(HERE / "peers" / "query_duckdb.py"), "--data", str(data), "--queries", str(queries_path),
                   "--runs", str(runs)],
    }
    available = {name: True for name in commands}
    if not Path(driver).is_file():
        available["pairscope"] = False
        print(f"   {NOT_AVAILABLE}: running the peers only", file=sys.stderr)
    outs = {name: [] for name in commands}
    rss = {name: 0 for name in commands}
    for i in range(rounds):
        for name, cmd in commands.items():
            if not available[name]:
                continue
            seconds, peak, out = run_timed(cmd)
            outs[name].append(parse_query_output(name, out, queries))
            rss[name] = max(rss[name], peak)
            print(f"   round {i + 1}/{rounds} {name}: {seconds:.1f} s, {peak / 2**20:.0f} MiB", file=sys.stderr)
    rows = []
    for j, q in enumerate(queries):
        row = {"name": q["name"], "query": q, "engines": {}}
        for name in commands:
            if not outs[name]:
                row["engines"][name] = None
                continue
            got = [o[j] for o in outs[name]]
            results = [json.dumps(g["result"], sort_keys=True) for g in got]
            if len(set(results)) > 1:
                raise SystemExit(f"{name}: query {q['name']!r} gave different results in different rounds")
            row["engines"][name] = {
                "p50_ms": statistics.median(g["p50_ms"] for g in got),
                "min_ms": min(g["min_ms"] for g in got),
                "max_ms": max(g["max_ms"] for g in got),
                "runs": sum(g["runs"] for g in got),
                "result": got[-1]["result"],
            }
            with_total = [g["p50_with_total_ms"] for g in got if g.get("p50_with_total_ms") is not None]
            if with_total:
                row["engines"][name]["p50_with_total_ms"] = statistics.median(with_total)
        row["check"] = check(q, {k: (v or {}).get("result") for k, v in row["engines"].items()})
        if row["check"].startswith("DIFFER"):
            print(f"   WARNING {q['name']}: {row['check']}", file=sys.stderr)
        rows.append(row)
    return {"kind": "queries", "title": title, "rounds": rounds, "runs_per_round": runs,
            "pairscope_available": available["pairscope"], "peak_rss_bytes": rss, "queries": rows}


def cli_comparison(bin_path, data, ds, db, queries_path, runs):
    """Whole-process times (start, open, query, print, exit) of a few queries from the CLI, and
    of the peers' scripts running just that query once, cold (no warm-up in the process)."""
    queries = {q["name"]: q for q in json.loads(Path(queries_path).read_text())["queries"]}
    word = queries["common word"]["query"]
    cases = [
        ("common word", "search", ["search", "--dataset", str(ds), word, "--limit", "50", "--format", "json"]),
        ("count of a common word", "count", ["count", "--dataset", str(ds), word]),
        ("top-20 hosts of a common word", "facets", ["facets", "--dataset", str(ds), word, "--by", "host", "--top", "20"]),
    ]
    py = sys.executable
    out = []
    for name, command, args in cases:
        have = has_command(bin_path, command)
        peers = []
        if have:
            peers.append(Peer(f"pairscope {' '.join(a if a != str(ds) else 'DS' for a in args)}", [bin_path, *args]))
        common = ["--queries", str(queries_path), "--only", name, "--cold", "--runs", "1"]
        peers.append(Peer("SQLite FTS5 (python + sqlite3, this query only)",
                          [py, str(HERE / "peers" / "query_sqlite.py"), "--db", str(db), *common]))
        peers.append(Peer("DuckDB (python + duckdb over the parquet, this query only)",
                          [py, str(HERE / "peers" / "query_duckdb.py"), "--data", str(data), *common]))
        result = compare(f"CLI, whole process: {name} ({word!r})", peers, runs, base_is_pairscope=have)
        if not have:
            result["unavailable"] = f"pairscope {command} not available"
        out.append(result)
    out.append(one_shot_comparison(bin_path, ds, runs))
    return out


def one_shot_comparison(bin_path, ds, runs):
    """Whole-process times of a selective search and a count next to `pairscope --version`, the
    floor every command pays (exec, dynamic loading, argument parsing): what a query costs a
    one-shot command beyond starting at all. At least 10 runs: these take milliseconds."""
    commands = [
        ["--version"],
        ["search", "--dataset", str(ds), '"thomas kinkade"', "--sort", "aesthetic", "--limit", "50", "--json"],
        ["count", "--dataset", str(ds), "kitchen"],
    ]
    peers = [Peer(f"pairscope {' '.join(a if a != str(ds) else 'DS' for a in args)}", [bin_path, *args])
             for args in commands]
    return compare("CLI, whole process: one-shot commands (ratios to --version, the floor)", peers, max(runs, 10))


# ---- mentions: every name of a list counted over every caption -----------------------------

MENTION_NAMES = ROOT.parent / "shared" / "data" / "names" / "artists-5265.txt"
MENTIONS_TITLE = "mentions: all names over every caption"
MENTIONS_LARGE = 50_000  # names in the synthetic list of the growth table
MENTIONS_SMALL = 100


def mention_entries(path):
    """The entity lines of a name list (no comments, no blank lines), as written."""
    lines = (line.strip() for line in Path(path).read_text(encoding="utf-8").removeprefix("\ufeff").split("\n"))
    return [line for line in lines if line and not line.startswith("#")]


def mention_lists(names_path, work):
    """[(names, path)] for the growth table: the list's first 100 entities, the list itself,
    and 50,000 names: the list plus distinct first name + surname pairs drawn (seeded) from its
    own names' first and last words. The derived lists go to work/ (removed after the run)."""
    entries = mention_entries(names_path)
    small = work / f"names-{MENTIONS_SMALL}.txt"
    small.write_text("\n".join(entries[:MENTIONS_SMALL]) + "\n", encoding="utf-8")
    words = [e.split("|")[0].split() for e in entries]
    wordy = lambda w: any(ch.isalnum() for ch in w) and not w.startswith("#")  # noqa: E731
    firsts = sorted({w[0] for w in words if len(w) >= 2 and wordy(w[0])})
    lasts = sorted({w[-1] for w in words if len(w) >= 2 and wordy(w[-1])})
    taken = {e.split("|")[0].strip() for e in entries}
    large_entries = list(entries)
    rng = random.Random(42)
    while len(large_entries) < MENTIONS_LARGE:
        name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
        if name not in taken:
            taken.add(name)
            large_entries.append(name)
    large = work / f"names-{MENTIONS_LARGE}.txt"
    large.write_text("\n".join(large_entries) + "\n", encoding="utf-8")
    return [(min(MENTIONS_SMALL, len(entries)), small), (len(entries), names_path), (len(large_entries), large)]


def count_differences(a, b, a_name, b_name, show=10):
    """(how many names the two {name: count} differ on, up to `show` of them described)."""
    differ = [n for n in dict.fromkeys([*a, *b]) if a.get(n) != b.get(n)]
    shown = "; ".join(f"{n}: {a_name} {a.get(n, '—')}, {b_name} {b.get(n, '—')}" for n in differ[:show])
    return len(differ), shown


def mentions_comparison(bin_path, driver, ds, db, work, runs):
    """pairscope mentions (every name of the 5,265-artist list, cache off) against a Python
    reference with the same semantics (peers/mentions_reference.py: pyahocorasick over the same
    normalisation) and SQLite FTS5 counting one name a query over the ingest comparison's
    database (peers/mentions_sqlite.py; unicode61 semantics, looser); the caption-reading floor
    (the benchmark driver's `read-captions`); and pairscope with 100 and 50,000 names (growth), all
    alternating. pairscope's counts must equal the reference's name by name: the names that
    differ are counted and shown, never hidden."""
    if not MENTION_NAMES.exists():
        notice = f"skipped: the name list {MENTION_NAMES} is absent (no ../shared)"
        print(f"== {MENTIONS_TITLE}: {notice}", file=sys.stderr)
        return {"kind": "mentions", "title": MENTIONS_TITLE, "peers": [], "unavailable": notice}
    if not has_command(bin_path, "mentions") or not Path(driver).is_file():
        notice = "skipped: pairscope mentions / the benchmark driver not available"
        print(f"== {MENTIONS_TITLE}: {notice}", file=sys.stderr)
        return {"kind": "mentions", "title": MENTIONS_TITLE, "peers": [], "unavailable": notice}
    (n_small, small), (n_full, full), (n_large, large) = mention_lists(MENTION_NAMES, work)
    py = sys.executable
    counts = {}  # peer key → {name: count} of each run
    reports = {}  # peer key → the last run's JSON

    def keep(key, report, run_counts):
        counts.setdefault(key, []).append(run_counts)
        reports[key] = report
        return None

    def pairscope_parse(key):
        def parse(out):
            report = json.loads(out)
            return keep(key, report, {e["name"]: e["count"] for e in report["entities"]})
        return parse

    def peer_parse(key):
        def parse(out):
            report = json.loads(out)
            return keep(key, report, report["counts"])
        return parse

    def pairscope_mentions(names):
        return [bin_path, "mentions", "--dataset", str(ds), "--names", str(names), "--no-cache",
                "--format", "json", "--quiet"]

    peers = {
        "pairscope": Peer(f"pairscope mentions, {n_full:,} names (--no-cache)", pairscope_mentions(full),
                          parse=pairscope_parse("pairscope")),
        "reference": Peer(f"Python reference (pyahocorasick, one process), {n_full:,} names",
                          [py, str(HERE / "peers" / "mentions_reference.py"), "--dataset", str(ds), "--names", str(full)],
                          parse=peer_parse("reference")),
        "sqlite": Peer(f"SQLite FTS5, one count(*) MATCH per name, {n_full:,} names",
                       [py, str(HERE / "peers" / "mentions_sqlite.py"), "--db", str(db), "--names", str(full)],
                       parse=peer_parse("sqlite")),
        "floor": Peer("bench_driver read-captions (reading the captions, matching nothing)",
                      [driver, "read-captions", "--dataset", str(ds)],
                      parse=lambda out: keep("floor", json.loads(out), {})),
        "small": Peer(f"pairscope mentions, {n_small:,} names (--no-cache)", pairscope_mentions(small),
                      parse=pairscope_parse("small")),
        "large": Peer(f"pairscope mentions, {n_large:,} names (--no-cache)", pairscope_mentions(large),
                      parse=pairscope_parse("large")),
    }
    result = compare(MENTIONS_TITLE, list(peers.values()), runs)
    result["kind"] = "mentions"
    for key, got in counts.items():
        if any(c != got[0] for c in got):
            print(f"   WARNING {peers[key].name}: the counts differ between runs", file=sys.stderr)

    ps, ref = reports["pairscope"], reports["reference"]
    # The caption text is what the reference reads; pairscope reads it too unless it counted
    # on the full-text index (method "index": no caption read, rows_scanned 0).
    caption_bytes, rows = ref["caption_bytes"], ref["rows"]
    differ, shown = count_differences(counts["pairscope"][-1], counts["reference"][-1], "pairscope", "reference")
    sqlite_differ, sqlite_shown = count_differences(counts["sqlite"][-1], counts["reference"][-1], "SQLite",
                                                    "reference", show=5)
    data_note = ""
    if ps["rows_scanned"] and (ps["rows_scanned"], ps["caption_bytes"]) != (rows, caption_bytes):
        data_note = (f" (the reference read {ref['rows']:,} rows, {ref['caption_bytes']:,} caption bytes; "
                     f"pairscope {ps['rows_scanned']:,} rows, {ps['caption_bytes']:,} bytes)")
    if differ or data_note:
        print(f"   WARNING pairscope and the reference differ on {differ} names{data_note}: {shown}", file=sys.stderr)

    inner = {"pairscope": ps["elapsed_ms"] / 1000, "reference": ref["seconds"], "sqlite": reports["sqlite"]["seconds"],
             "floor": reports["floor"]["seconds"], "small": reports["small"]["elapsed_ms"] / 1000,
             "large": reports["large"]["elapsed_ms"] / 1000}
    for key, p in zip(peers, result["peers"]):
        details = {"caption text": f"{caption_bytes / p['median_s'] / 1e6:,.0f} MB/s",
                   "in process": f"{inner[key]:.2f} s"}
        if key in ("pairscope", "small", "large"):
            method = reports[key].get("method", {}).get("kind", "scan")
            details["method"] = "phrase counts on the index" if method == "index" else "scan of every caption"
        if key == "pairscope":
            details["vs the reference:"] = f"{differ:,} of {n_full:,} names differ" + (f" ({shown})" if differ else "") \
                + data_note
        elif key == "sqlite":
            details["queries"] = f"{reports['sqlite']['queries']:,}"
            details["vs the reference:"] = f"{sqlite_differ:,} of {n_full:,} names differ (unicode61 semantics)"
        elif key == "floor":
            details["in process"] += " (the floor)"
        p["details"] = details
    result["mentions"] = {
        "rows": rows,
        "caption_bytes": caption_bytes,
        "names": n_full,
        "differ_from_reference": differ,
        "differing": shown,
        "sqlite_differ_from_reference": sqlite_differ,
        "sqlite_differing": sqlite_shown,
        "in_process_s": inner,
        "growth": [{"names": n, "median_s": p["median_s"], "mb_per_s": caption_bytes / p["median_s"] / 1e6}
                   for n, p in zip((n_small, n_full, n_large), (result["peers"][4], result["peers"][0], result["peers"][5]))],
    }
    return result


# ---- subset: a LAION preset and a 10,000-domain removal list, and dedup, against DuckDB ----

SUBSET_PRESET = "laion-high-resolution"
SUBSET_DOMAINS = 10_000


def domain_list(bin_path, ds, path):
    """SUBSET_DOMAINS entries: every 10th of the dataset's domains by row count (so about a tenth
    of the rows go), then names that match nothing, as most entries of a real block list do."""
    _, _, out = run_timed([bin_path, "sql", "--dataset", str(ds), "--format", "csv",
                           "SELECT domain FROM pairs WHERE domain IS NOT NULL GROUP BY domain ORDER BY count(*) DESC, domain"])
    domains = [line.strip() for line in out.splitlines()[1:] if line.strip()][::10]
    domains += [f"blocked-{i}.example" for i in range(SUBSET_DOMAINS - len(domains))]
    path.write_text("\n".join(domains[:SUBSET_DOMAINS]) + "\n")
    return path


def subset_comparison(bin_path, ds, work, runs):
    """pairscope subset (a preset and a 10,000-domain list; then dedup by url over every row)
    against DuckDB's COPY (SELECT … WHERE … ORDER BY row_id) TO parquet over the dataset's own
    parquet files (peers/subset_duckdb.py). Row counts must agree."""
    if not has_command(bin_path, "subset"):
        notice = "skipped: pairscope subset not available"
        return [{"title": "subset", "peers": [], "unavailable": notice}]
    domains = domain_list(bin_path, ds, work / "domains-10000.txt")
    files = str(ds / "sources" / "*" / "block-*.parquet")
    _, _, listing = run_timed([bin_path, "subset", "--list-presets", "--json"])
    predicate = next(p["filter"] for p in json.loads(listing) if p["name"] == SUBSET_PRESET)
    py, peer = sys.executable, str(HERE / "peers" / "subset_duckdb.py")
    results = []
    for title, ours_args, theirs_args in [
        (f"subset: --preset {SUBSET_PRESET} + {SUBSET_DOMAINS:,}-domain removal list → parquet",
         ["--preset", SUBSET_PRESET, "--exclude-domains", str(domains)],
         ["--where", predicate, "--domains", str(domains)]),
        ("subset: --dedup url over every row → parquet", ["--dedup", "url"], ["--dedup", "url"]),
    ]:
        ours_out, theirs_out = work / "subset-pairscope", work / "subset-duckdb.parquet"

        def clean():
            shutil.rmtree(ours_out, ignore_errors=True)
            theirs_out.unlink(missing_ok=True)

        ours = Peer("pairscope subset",
                    [bin_path, "subset", "--dataset", str(ds), *ours_args, "--out", str(ours_out), "--json"],
                    setup=clean, parse=lambda out: {"rows": json.loads(out)["rows"]["out"]})
        theirs = Peer("DuckDB COPY … ORDER BY row_id TO parquet",
                      [py, peer, "--files", files, *theirs_args, "--out", str(theirs_out)],
                      setup=clean, parse=json.loads)
        result = compare(title, [ours, theirs], runs)
        rows = [p["details"]["rows"] for p in result["peers"]]
        if len(set(rows)) != 1:
            raise SystemExit(f"{title}: the peers kept different row counts {rows}")
        results.append(result)
        clean()
    return results


COLLECT_SOURCE = ROOT.parent / "shared" / "data" / "cc" / "cc-sample-16pages.warc.wat.gz"


def collect_inputs(data_dir, smoke):
    """Two WAT files varied from the real sample by make_wat.py (cached in data_dir): ~1.1 GB
    uncompressed each, or ~5 MB in smoke mode. Returns [(path, uncompressed bytes)]."""
    size = "smoke" if smoke else "1.1G"
    out = []
    for seed in (1, 2):
        path = data_dir / "collect" / f"varied-{size}-{seed}.warc.wat.gz"
        meta = path.with_suffix(".json")
        if not meta.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            amount = ["--copies", "20"] if smoke else ["--min-bytes", "1100000000"]
            print(f"== generating {path}", file=sys.stderr)
            _, _, made = run_timed([sys.executable, str(HERE / "make_wat.py"), "--source", str(COLLECT_SOURCE),
                                    "--out", str(path), "--seed", str(seed), *amount])
            meta.write_text(made)
        out.append((path, json.loads(meta.read_text())["inflated_bytes"]))
    return out


def collect_comparison(bin_path, data_dir, work, runs, smoke):
    """pairscope collect on one core against cc2dataset 1.5.0's own extractor
    (peers/cc2dataset_wat.py, its extract_documents_from_wat) and against `gzip -dc > /dev/null`,
    on the same WAT file varied from real Common Crawl records; then --threads 2 against
    --threads 1 over two such files. Pair counts must agree (--min-alt-chars 1, the varied file
    has no whitespace-only alts). MB/s are of uncompressed WAT, per second of the whole process."""
    if not COLLECT_SOURCE.exists():
        return [{"title": "collect", "peers": [], "unavailable": f"skipped: {COLLECT_SOURCE} is not here"}]
    if not has_command(bin_path, "collect"):
        return [{"title": "collect", "peers": [], "unavailable": "skipped: pairscope collect not available"}]
    (first, first_bytes), (second, second_bytes) = collect_inputs(data_dir, smoke)
    out = work / "collect-out"

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    def collect_cmd(inputs, threads):
        return [bin_path, "collect", *map(str, inputs), "--out", str(out), "--threads", str(threads),
                "--min-alt-chars", "1", "--quiet", "--json"]

    def ours_parse(out_text):
        return {"pairs": json.loads(out_text)["pairs_extracted"]}

    def with_rates(result, inflated):
        for p in result["peers"]:
            p["details"] = p["details"] or {}
            p["details"]["uncompressed MB/s"] = inflated / 1e6 / p["median_s"]
            if "pairs" in p["details"]:
                p["details"]["pairs/s"] = p["details"]["pairs"] / p["median_s"]
        return result

    size = f"{first_bytes / 1e9:.2f} GB" if first_bytes >= 1e8 else f"{first_bytes / 1e6:.0f} MB"
    one_core = compare(
        f"collect: one WAT file ({size} uncompressed), one core",
        [
            Peer("pairscope collect --threads 1", collect_cmd([first], 1), setup=clean, parse=ours_parse),
            Peer("cc2dataset 1.5.0 extract_documents_from_wat",
                 [sys.executable, str(HERE / "peers" / "cc2dataset_wat.py"), str(first)],
                 parse=lambda text: {"pairs": json.loads(text)["pairs"],
                                     "extraction s": json.loads(text)["seconds"]}),
            Peer("gzip -dc > /dev/null", ["sh", "-c", 'exec gzip -dc "$0" > /dev/null', str(first)]),
        ],
        runs,
    )
    pairs = [p["details"]["pairs"] for p in one_core["peers"][:2]]
    if len(set(pairs)) != 1:
        raise SystemExit(f"collect: pairscope and cc2dataset extracted different pair counts {pairs}")
    scaling = compare(
        "collect: two WAT files, --threads 2 against --threads 1",
        [
            Peer("pairscope collect --threads 2", collect_cmd([first, second], 2), setup=clean, parse=ours_parse),
            Peer("pairscope collect --threads 1", collect_cmd([first, second], 1), setup=clean, parse=ours_parse),
        ],
        runs,
    )
    clean()
    return [with_rates(one_core, first_bytes), with_rates(scaling, first_bytes + second_bytes)]


FETCH_ROWS = 20_000
IMG2DATASET = "img2dataset==1.47.0"


def fetch_comparison(bin_path, server_bin, work, runs, smoke):
    """pairscope fetch against img2dataset 1.47.0 on the same URL list, served by
    crates/fetch/examples/image_server.rs on loopback: 20,000 URLs over 256 hosts (127.1.x.y),
    20-200 ms latency each, JPEG/PNG of 200-2,000 px from a pool of 300 generated images, about
    5 % broken (404, truncated, HTML). Same settings: keep_ratio 256, webdataset, 10,000 rows a
    shard, no retries, 128 requests in flight (img2dataset: 2 processes x 64 threads). Bench-only
    override: pairscope's per-host limits are raised to 16 connections and 1,000 requests/s
    (img2dataset has none), so politeness does not decide the time. img2dataset is installed by
    the full bench only (it pulls OpenCV); the smoke run fetches 300 URLs with pairscope alone."""
    if not server_bin or not Path(server_bin).exists() or not has_command(bin_path, "fetch"):
        return [{"title": "fetch", "peers": [], "unavailable": "skipped: pairscope fetch or its image server missing"}]
    rows, hosts, pool = (300, 16, 20) if smoke else (FETCH_ROWS, 256, 300)
    urls = work / "fetch-urls.parquet"
    ours, theirs = work / "fetch-pairscope", work / "fetch-img2dataset"
    print(f"== fetch: starting the image server ({rows} URLs over {hosts} hosts)", file=sys.stderr)
    server = subprocess.Popen([str(server_bin), "--rows", str(rows), "--hosts", str(hosts), "--pool", str(pool),
                               "--list", str(urls)], stdout=subprocess.PIPE)
    try:
        if not server.stdout.readline().strip():
            raise SystemExit("fetch: the image server did not start")
        peers = [Peer(
            "pairscope fetch",
            [bin_path, "fetch", "--from", str(urls), "--out", str(ours), "--resize-mode", "keep_ratio",
             "--image-size", "256", "--output-format", "webdataset", "--concurrency", "128", "--retries", "0",
             "--allow-private-addresses", "--connections-per-host", "16", "--requests-per-second-per-host", "1000",
             "--quiet", "--json"],
            setup=lambda: shutil.rmtree(ours, ignore_errors=True),
            parse=lambda text: {"statuses": json.loads(text)["total"]})]
        if not smoke:
            venv_bin = Path(sys.executable).parent
            if not (venv_bin / "img2dataset").exists():
                print(f"== fetch: installing {IMG2DATASET} (full bench only)", file=sys.stderr)
                subprocess.run([sys.executable, "-m", "pip", "install", "-q", IMG2DATASET], check=True)
            peers.append(Peer(
                "img2dataset 1.47.0",
                [venv_bin / "img2dataset", "--url_list", str(urls), "--input_format", "parquet", "--url_col", "url",
                 "--caption_col", "caption", "--output_format", "webdataset", "--output_folder", str(theirs),
                 "--resize_mode", "keep_ratio", "--image_size", "256", "--processes_count", "2",
                 "--thread_count", "64", "--number_sample_per_shard", "10000", "--retries", "0",
                 "--enable_wandb", "False"],
                setup=lambda: shutil.rmtree(theirs, ignore_errors=True),
                parse=lambda _: {"statuses": img2dataset_statuses(theirs)}))
        result = compare(f"fetch: {rows:,} image URLs over {hosts} loopback hosts, keep_ratio 256, webdataset",
                         peers, runs)
    finally:
        server.kill()
        server.wait()
    for peer, row in zip(peers, result["peers"]):
        ok = row["details"]["statuses"].get("ok", row["details"]["statuses"].get("success", 0))
        cpu = statistics.median(peer.cpu)
        row["details"] = {"ok images": ok, "images/s": ok / row["median_s"],
                          "CPU-s per 1,000 images": 1000 * cpu / max(ok, 1),
                          "statuses": ", ".join(f"{k} {v}" for k, v in sorted(row["details"]["statuses"].items()))}
    if len(peers) == 2:
        ours_ok, theirs_ok = fetched_urls(ours, "ok"), fetched_urls(theirs, "success")
        if ours_ok != theirs_ok:
            raise SystemExit(f"fetch: the ok images differ: {len(ours_ok - theirs_ok)} only pairscope's, "
                             f"{len(theirs_ok - ours_ok)} only img2dataset's")
        a, b = result["peers"]
        per_cpu = b["details"]["CPU-s per 1,000 images"] / a["details"]["CPU-s per 1,000 images"]
        result["targets_text"] = (
            f"Targets: pairscope fetches {per_cpu:.2f}x img2dataset's images per CPU-second (target >= 2x); its peak "
            f"RSS is {a['peak_rss_bytes'] / b['peak_rss_bytes']:.2f} of img2dataset's largest process's (target <= 0.5); "
            f"the same {len(ours_ok):,} images are ok in both.")
    shutil.rmtree(ours, ignore_errors=True)
    shutil.rmtree(theirs, ignore_errors=True)
    return [result]


def img2dataset_statuses(out):
    counts = collections.Counter()
    for stats in Path(out).glob("*_stats.json"):
        for status, n in json.loads(stats.read_text())["status_dict"].items():
            counts[status] += n
    return dict(counts)


def fetched_urls(out, ok_status):
    import pyarrow.parquet as pq
    urls = set()
    for path in sorted(Path(out).glob("*.parquet")):
        table = pq.read_table(path, columns=["url", "status"]).to_pydict()
        urls.update(u for u, s in zip(table["url"], table["status"]) if s == ok_status)
    return urls


def render_mentions(c):
    """Under the mentions table: the exactness check, the issue's targets and the growth table."""
    m = c.get("mentions")
    if not m:
        return []
    base, ref, sqlite, floor = (c["peers"][i] for i in range(4))
    exact = "equal to the reference's for every name" if not m["differ_from_reference"] else \
        f"**not** equal to the reference's: {m['differ_from_reference']:,} names differ ({m['differing']})"
    lines = ["", f"{m['rows']:,} captions, {m['caption_bytes'] / 1e6:,.1f} MB of caption text. pairscope's counts are "
             f"{exact}; SQLite's (unicode61 tokenizer: case and accent folding, no substring scripts) differ on "
             f"{m['sqlite_differ_from_reference']:,} of {m['names']:,}"
             + (f" (e.g. {m['sqlite_differing']})" if m["sqlite_differing"] else "") + ".",
             "",
             f"Targets (the issue: 12M rows, 2 cores, cache off): pairscope ≤ 4 s for all names: "
             f"{base['median_s']:.2f} s here; ≥ 10× the Python reference: {ref['ratio_to_pairscope']:.1f}×; "
             f"faster than SQLite FTS5 per-name counting: {sqlite['ratio_to_pairscope']:.2f}× "
             f"({'yes' if sqlite['ratio_to_pairscope'] > 1 else 'no'}). Reading the captions alone takes "
             f"{floor['median_s']:.2f} s ({m['caption_bytes'] / floor['median_s'] / 1e6:,.0f} MB/s).",
             "", "How pairscope's time grows with the number of names (wall, median; in process: the last run's "
             "own timing (`elapsed_ms`), without process start-up):", "",
             "| names | median s | caption text MB/s | time vs the smallest list | in process s |",
             "|---:|---:|---:|---:|---:|"]
    first = m["growth"][0]["median_s"]
    inner = m.get("in_process_s", {})
    for g, key in zip(m["growth"], ("small", "pairscope", "large")):
        lines.append(f"| {g['names']:,} | {g['median_s']:.2f} | {g['mb_per_s']:,.0f} | {g['median_s'] / first:.2f}× | "
                     f"{inner.get(key, float('nan')):.2f} |")
    return lines


# ---- the report ----------------------------------------------------------------------------

def ms(value):
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def ratio(peer, base):
    if not peer or not base or not base["p50_ms"]:
        return "—"
    r = peer["p50_ms"] / base["p50_ms"]
    return f"{r:.1f}×" if r >= 10 else f"{r:.3g}×"


def render_queries(c):
    lines = [f"### {c['title']}", "",
             f"Each engine ran the whole of `bench/queries.json` in one process: one warm-up run per query, then "
             f"{c['runs_per_round']} timed runs (round-robin over the queries), in {c['rounds']} alternating "
             "round(s); p50 is the median of the rounds' medians. Result: total matching rows (search, count) or "
             "the facet list; check: the engines' results are equal (facets: same values and counts). A search is "
             "timed as the peers time theirs (Datasette counts apart): the page, its total counted untimed; in "
             "brackets, pairscope's p50 for the page with its exact total (`count_total`, what the web UI asks).", ""]
    lines += ["| query | pairscope p50 ms | SQLite FTS5 p50 ms | DuckDB p50 ms | SQLite / pairscope | "
              "DuckDB / pairscope | result | check |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    if not c["pairscope_available"]:
        lines.append(f"| **{NOT_AVAILABLE}** (no benchmark driver): peers only | n/a | | | | | | |")
    for row in c["queries"]:
        e = row["engines"]
        p, s, d = (e.get(n) for n in QUERY_PEERS)
        some = next((v for v in (p, s, d) if v), None)
        counted = f" ({ms(p['p50_with_total_ms'])})" if p and p.get("p50_with_total_ms") is not None else ""
        lines.append(f"| {row['name']} | {ms(p['p50_ms']) + counted if p else 'n/a'} | "
                     f"{ms(s and s['p50_ms'])} | {ms(d and d['p50_ms'])} | {ratio(s, p)} | {ratio(d, p)} | "
                     f"{summary(row['query'], some and some['result'])} | {row['check']} |")
    rss = c["peak_rss_bytes"]
    lines += ["", "Peak RSS: " + ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in rss.items() if v) + ".", ""]
    return lines


def render_growth(results):
    """How each query's p50 grows between the smallest and largest size with query results,
    and the power law through the two points extrapolated to 2.3B rows (LAION-2B-en)."""
    sized = [(r["rows"], c) for r in results for c in r["comparisons"] if c.get("kind") == "queries"]
    if len(sized) < 2:
        return []
    (n1, c1), (n2, c2) = sized[0], sized[-1]
    target = 2_300_000_000
    lines = [f"## Query latency growth, {human_rows(n1)} → {human_rows(n2)} rows", "",
             f"p50 at each size (from the sections above), growth factor, the exponent k of t ∝ rows^k through the "
             f"two points, and what that power law predicts at 2.3B rows. An extrapolation from two points: a "
             "sub-millisecond p50 is mostly constant overhead, and the model ignores memory and disk limits.", "",
             f"| query | engine | p50 ms @ {human_rows(n1)} | p50 ms @ {human_rows(n2)} | growth | k | "
             "predicted @ 2.3B |", "|---|---|---:|---:|---:|---:|---:|"]
    first = {row["name"]: row for row in c1["queries"]}
    for row in c2["queries"]:
        if row["name"] not in first:
            continue
        for engine in QUERY_PEERS:
            a, b = first[row["name"]]["engines"].get(engine), row["engines"].get(engine)
            if not a or not b or a["p50_ms"] <= 0 or b["p50_ms"] <= 0:
                continue
            growth = b["p50_ms"] / a["p50_ms"]
            k = math.log(growth) / math.log(n2 / n1)
            predicted = b["p50_ms"] * (target / n2) ** k
            pred = f"{predicted / 1000:,.1f} s" if predicted >= 1000 else f"{predicted:,.1f} ms"
            lines.append(f"| {row['name']} | {engine} | {ms(a['p50_ms'])} | {ms(b['p50_ms'])} | {growth:.1f}× | "
                         f"{k:.2f} | {pred} |")
    return lines + [""]


def render_scale(results_dir):
    """bench/scale's growth table: pairscope alone at each size it measured (scale-*.json)."""
    runs = sorted((json.loads(p.read_text()) for p in results_dir.glob("scale-*.json") if ".partial" not in p.name),
                  key=lambda r: r["rows"])
    if not runs:
        return []
    sizes = [human_rows(r["rows"]) for r in runs]
    lines = ["## Growth with the dataset (bench/scale)", "",
             "pairscope alone at each size, same synthetic data (`pairscope synth --rows N --seed 42 --schema "
             "laion-aesthetics`). Growth: the largest size over the one before it. Measured with " +
             "; ".join(f"{human_rows(r['rows'])}: pairscope {', '.join(sorted(set(r['measured_with'].values())))}, "
                       f"{r['date']}" for r in runs) + ".", "",
             f"| | {' | '.join(sizes)} | growth | target |", "|---|" + "---:|" * (len(sizes) + 1) + "---|"]

    def row(name, values, fmt, target=""):
        shown = [fmt(v) if v is not None else "n/a" for v in values]
        growth = f"{values[-1] / values[-2]:.2f}×" if len(values) > 1 and values[-1] and values[-2] else ""
        lines.append(f"| {name} | {' | '.join(shown)} | {growth} | {target} |")

    step = lambda name: [r["steps"].get(name) or {} for r in runs]
    ingest = step("ingest")
    row("ingest, rows/s", [i.get("rows_per_s") for i in ingest], lambda v: f"{v:,.0f}", "largest ≥ 12M's")
    row("ingest, peak RSS MiB", [i.get("peak_rss") and i["peak_rss"] / 2**20 for i in ingest], lambda v: f"{v:,.0f}")
    row("dataset on disk, GB", [i.get("dataset_bytes") and i["dataset_bytes"] / 1e9 for i in ingest],
        lambda v: f"{v:,.2f}")
    queries = step("queries")
    for name in (queries[-1] or {}):
        target = "≤ 2 ms, ≤ 1.5× 12M's" if name == "URL prefix" else (
            "≤ 1.5× 12M's" if name in ("common word", "rare word", "two-word phrase", "phrase + sort by aesthetic",
                                       "word + score filters") else "")
        row(f"{name}, p50 ms", [q.get(name, {}).get("p50_ms") for q in queries], ms, target)
        if any(q.get(name, {}).get("p50_with_total_ms") is not None for q in queries):
            row(f"{name} with its total, p50 ms", [q.get(name, {}).get("p50_with_total_ms") for q in queries], ms)
    shots = step("one_shot")
    for name, label in (("version", "`--version` (the floor)"), ("search", "one-shot `search`"),
                        ("count", "one-shot `count`")):
        row(f"{label}, ms", [o.get(name) for o in shots], ms, "100M ≤ 1.5× 1M's" if name != "version" else "")
    servers = step("server")
    for page in (servers[-1].get("restarted") or {}).get("first_ms", {}):
        row(f"serve, first {page} page after a restart, ms",
            [s.get("restarted", {}).get("first_ms", {}).get(page) for s in servers], ms, "≤ 200 ms")
        row(f"serve, first {page} page of a new dataset version, ms",
            [s.get("new", {}).get("first_ms", {}).get(page) for s in servers], ms)
    row("serve, anonymous RSS after its first pages, MiB",
        [s.get("restarted", {}).get("anon_rss") and s["restarted"]["anon_rss"] / 2**20 for s in servers],
        lambda v: f"{v:,.0f}", "≤ 500 MiB")
    scans = step("mentions")
    indexed = [m.get("by_index") or {} for m in scans]
    row("`mentions --by domain` (through the index), s", [i.get("seconds") for i in indexed], lambda v: f"{v:,.2f}")
    row("`mentions --by domain` (through the index), GB/s of captions",
        [i.get("bytes_per_s") and i["bytes_per_s"] / 1e9 for i in indexed], lambda v: f"{v:.2f}", "≥ 1 GB/s")
    row("`mentions --by domain --scan` (reads every caption), GB/s of captions",
        [m.get("bytes_per_s") and m["bytes_per_s"] / 1e9 for m in scans], lambda v: f"{v:.2f}")
    return lines + [""]


# The hand-written end of REPORT.md (dated measurements the runs above do not hold, and what
# changed between them) starts at this heading; render keeps it as it is.
HISTORY_HEADING = "## History (written by hand; bench/run keeps this section)"


def kept_history(report_path):
    """The report's hand-written history, from its heading to the end ("" when it has none)."""
    text = report_path.read_text() if report_path.exists() else ""
    at = text.find(f"\n{HISTORY_HEADING}\n")
    return "" if at < 0 else text[at + 1:]


def render(results_dir, report_path):
    history = kept_history(report_path)
    lines = [
        "# pairscope benchmarks",
        "",
        "Generated by `bench/run`; each section is one run of it (`bench/run --rows N`), peers side by side",
        "on the same data, alternating runs, medians. Ratios are peer time / pairscope time (> 1: pairscope",
        "is faster). Peak RSS is per process (GNU time). Re-run: `bench/run --rows 1M` or `--rows 12M`.",
        "",
    ]
    # Only the comparison runs (load-*.json, bench/load's results, are another kind).
    results = sorted((r for r in (json.loads(p.read_text()) for p in results_dir.glob("*.json")) if "comparisons" in r),
                     key=lambda r: r["rows"])
    for r in results:
        lines += [f"## {human_rows(r['rows'])} rows — {r['date']}", ""]
        m, v = r["machine"], r["versions"]
        lines += [
            f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}",
            f"- versions: {', '.join(f'{k} {val}' for k, val in v.items())}",
            f"- data: `pairscope synth --rows {r['rows']} --seed 42 --schema laion-aesthetics` "
            f"({r['data_bytes'] / 2**20:,.0f} MiB of parquet)" if r["data_bytes"] else
            "- data: the vectors section's own (below)",
            f"- runs per command: {r['runs']}",
            "",
        ]
        for c in r["comparisons"]:
            section = render_comparison(c)
            measured_with = c.get("measured_with")
            if measured_with and measured_with != v.get("pairscope") and section[:1] and section[0].startswith("###"):
                # A section merged by `--only` after the file's first run: its own binary and date.
                section[1:1] = ["", f"Measured with pairscope {measured_with}, {c.get('measured_at', '')}."]
            lines += section
    lines += render_growth(results)
    lines += render_scale(results_dir)
    report = "\n".join(lines)
    report_path.write_text(f"{report.rstrip()}\n\n{history}" if history else report)


def render_comparison(c):
    """One comparison's section of the report."""
    if c.get("kind") == "queries":
        return render_queries(c)
    if c.get("kind") == "vectors":
        import vectors
        return vectors.render(c)
    lines = [f"### {c['title']}", "", "| command | median s | min s | max s | ratio | peak RSS | notes |",
              "|---|---:|---:|---:|---:|---:|---|"]
    if c.get("unavailable"):
        lines.append(f"| {c['unavailable']} | — | — | — | — | — | |")
    for p in c["peers"]:
        notes = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in (p["details"] or {}).items())
        if p.get("cores") is not None and c["title"].startswith("ingest"):
            notes = f"cores {p['cores']:.2f}" + (f", {notes}" if notes else "")
        rat = "—" if p["ratio_to_pairscope"] is None else f"{p['ratio_to_pairscope']:.2f}×"
        sec = lambda x: f"{x:.2f}" if x >= 1 else f"{x:.3f}"  # noqa: E731
        lines.append(f"| {p['name']} | {sec(p['median_s'])} | {sec(p['min_s'])} | {sec(p['max_s'])} | "
                     f"{rat} | {p['peak_rss_bytes'] / 2**20:,.0f} MiB | {notes} |")
    if "sizes" in c:
        s = c["sizes"]
        lines.append("")
        lines.append(f"On disk: pairscope dataset {s['pairscope_dataset_bytes'] / 2**20:,.0f} MiB; "
                     f"SQLite database {(s['sqlite_db_bytes'] or 0) / 2**20:,.0f} MiB.")
    if "targets" in c:
        t = c["targets"]
        reference = (f"; its rows/s are {t['of_reference_rate']:.0%} of the 12-file reference's (target ≥ 90%)"
                     if "of_reference_rate" in t else "")
        lines += ["", f"Targets: pairscope's ingest uses {t['cores']:.2f} cores (target ≥ 1.8){reference}; "
                      f"SQLite's lean load takes {t['lean_ratio']:.2f}× its time (target ≥ 3×)."]
    if c.get("kind") == "mentions":
        lines += render_mentions(c)
    if "targets_text" in c:
        lines += ["", c["targets_text"]]
    lines.append("")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--driver", required=True, help="the benchmark driver (examples/bench_driver.rs)")
    ap.add_argument("--image-server", help="the fetch section's server (crates/fetch/examples/image_server.rs)")
    ap.add_argument("--rows", default="1M", help="1M, 12M or any count")
    ap.add_argument("--smoke", action="store_true", help="~10k rows, one run each, report not kept")
    ap.add_argument("--queries", default=str(HERE / "queries.json"), help="the query set (bench/queries.json)")
    ap.add_argument("--only", choices=["ingest", "queries", "cli", "subset", "mentions", "collect", "fetch", "vectors"],
                    help="run one section (ingest: the timed ingest comparison alone; subset, mentions: on an untimed "
                         "ingest; queries, cli: on a dataset and SQLite database cached in BENCH_DATA; vectors: "
                         "bench/vectors.py, its own synth data with embeddings, only run this way) and merge it "
                         "into the size's results")
    args = ap.parse_args()

    rows = 10_000 if args.smoke else parse_rows(args.rows)
    runs = 1 if args.smoke else int(os.environ.get("BENCH_RUNS", "3"))
    query_runs = int(os.environ.get("BENCH_QUERY_RUNS", "2" if args.smoke else "5"))
    query_rounds = int(os.environ.get("BENCH_QUERY_ROUNDS", "1" if args.smoke else "2"))
    data_dir = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    work = HERE / "out" / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # the vectors section makes its own data (synth --embeddings, another seed)
    data = None if args.only == "vectors" else ensure_synth(args.bin, rows, data_dir)

    if args.only:
        return only(args, rows, runs, data, data_dir, work, query_runs, query_rounds)
    comparisons = [ingest_comparison(args.bin, data, work, runs, ingest_reference(args, rows, data_dir))]
    # the ingest comparison's last run left both the dataset and the SQLite database in work/
    ds, db = work / "ds", work / "sqlite.db"
    comparisons.append(queries_comparison(args.driver, data, ds, db, args.queries, query_runs, query_rounds))
    comparisons += cli_comparison(args.bin, data, ds, db, args.queries, runs)
    comparisons.append(mentions_comparison(args.bin, args.driver, ds, db, work, runs))
    comparisons += subset_comparison(args.bin, ds, work, runs)
    comparisons += collect_comparison(args.bin, data_dir, work, runs, args.smoke)
    comparisons += fetch_comparison(args.bin, args.image_server, work, runs, args.smoke)
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
    # BENCH_RESULTS: somewhere else than the committed bench/results + bench/REPORT.md (a trial run)
    results = Path(os.environ.get("BENCH_RESULTS", HERE / "results"))
    report = HERE / "REPORT.md" if results == HERE / "results" else results / "REPORT.md"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{human_rows(rows)}.json").write_text(json.dumps(result, indent=2))
    render(results, report)
    print(report.read_text())


def ingest_reference(args, rows, data_dir):
    """The 12-file synth data a smaller ingest is compared with (none when the data is that
    large already, or in a smoke run)."""
    if args.smoke or rows >= INGEST_REFERENCE_ROWS:
        return None
    return ensure_synth(args.bin, INGEST_REFERENCE_ROWS, data_dir)


def cached_query_inputs(bin_path, rows, data, data_dir):
    """The dataset and the SQLite FTS5 database of the queries section, made once per size and
    kept in BENCH_DATA (the dataset is the one bench/load serves). Remove them to rebuild, e.g.
    after an index format change."""
    ds = data_dir / f"ds-{human_rows(rows)}-laion-aesthetics"
    if not (ds / "CURRENT").exists():
        print(f"== ingesting {data} into {ds} (untimed, kept)", file=sys.stderr)
        run_timed([bin_path, "ingest", "--quiet", "--dataset", str(ds), str(data)])
    db = data_dir / f"sqlite-fts5-{human_rows(rows)}.db"
    done = db.with_name(db.name + ".done")  # written once the build has finished
    if not done.exists():
        print(f"== building the SQLite FTS5 database {db} (untimed, kept)", file=sys.stderr)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        run_timed([sys.executable, str(HERE / "peers" / "sqlite_fts5.py"), str(data), str(db)])
        done.write_text("")
    return ds, db


def only(args, rows, runs, data, data_dir, work, query_runs, query_rounds):
    """One section (subset, mentions: on a fresh, untimed ingest; queries, cli: on inputs cached in
    BENCH_DATA); its comparisons replace those of the same title in the size's results, whose
    other sections are kept as they were measured."""
    ds, db = work / "ds", work / "sqlite.db"
    if args.only == "collect":
        comparisons = collect_comparison(args.bin, data_dir, work, runs, args.smoke)
    elif args.only == "fetch":
        comparisons = fetch_comparison(args.bin, args.image_server, work, runs, args.smoke)
    elif args.only == "queries":
        ds, db = cached_query_inputs(args.bin, rows, data, data_dir)
        comparisons = [queries_comparison(args.bin, data, ds, db, args.queries, query_runs, query_rounds)]
    elif args.only == "cli":
        ds, db = cached_query_inputs(args.bin, rows, data, data_dir)
        comparisons = cli_comparison(args.bin, data, ds, db, args.queries, runs)
    elif args.only == "ingest":
        comparisons = [ingest_comparison(args.bin, data, work, runs, ingest_reference(args, rows, data_dir))]
    elif args.only == "vectors":
        import vectors
        comparisons = vectors.comparison(args.bin, args.driver, rows, data_dir, work, args.smoke, run_measured)
    else:
        run_timed([args.bin, "ingest", "--quiet", "--dataset", str(ds), str(data)])
        if args.only == "subset":
            comparisons = subset_comparison(args.bin, ds, work, runs)
        else:
            run_timed([sys.executable, str(HERE / "peers" / "sqlite_fts5.py"), str(data), str(db)])
            comparisons = [mentions_comparison(args.bin, ds, db, work, runs)]
    shutil.rmtree(work, ignore_errors=True)
    results = Path(os.environ.get("BENCH_RESULTS", HERE / "out" if args.smoke else HERE / "results"))
    report = HERE / "REPORT.md" if results == HERE / "results" else results / "REPORT.md"
    results.mkdir(parents=True, exist_ok=True)
    path = results / ("smoke.json" if args.smoke else f"{human_rows(rows)}.json")
    result = json.loads(path.read_text()) if path.exists() else {
        "rows": rows, "runs": runs, "machine": machine(), "versions": versions(args.bin),
        "data_bytes": dir_size(data) if data else 0, "comparisons": []}
    measured_with = versions(args.bin)["pairscope"]
    for c in comparisons:
        c["measured_with"] = measured_with
        c["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    titles = {c["title"] for c in comparisons}
    result["comparisons"] = [c for c in result["comparisons"] if c["title"] not in titles] + comparisons
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()) + f" (--only {args.only} merged)"
    path.write_text(json.dumps(result, indent=2))
    render(results, report)
    print(report.read_text())


if __name__ == "__main__":
    main()
