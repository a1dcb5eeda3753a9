"""Load benchmark of `pairscope serve` on loopback (issue 5).

A request mix rotating through the search queries of bench/queries.json, each as the JSON twin
and as the HTML page (both run the search and the page's host and language facets):

1. a fixed offered rate (default 100 requests/s for 60 s), open loop: each request is sent at
   its scheduled time whatever the others do, and its latency counts from that time (no
   coordinated omission). Reported: non-2xx count, p50/p99/max latency. Target: 0 non-2xx,
   p99 <= 100 ms.
2. saturation: 64 connections, each sending its next request as soon as the last is answered.
   Reported: throughput, p50/p99 of the 2xx answers, the share of 503 (the bounded queue
   refusing work, as designed), any other status or error, the server's RSS (sampled max and
   its high-water mark).

The client is plain asyncio over keep-alive HTTP/1.1 connections (no dependency); it shares
the machine's cores with the server, which the report says.

    bench/load [--rows 1M] [--smoke] [--serve-arg=--facet-cache=0] [--out PATH]
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import human_rows, machine, parse_rows, ensure_synth  # noqa: E402

HERE = Path(__file__).resolve().parent


def where_params(expr):
    """The search form's fields for a conjunction of score bounds (`aesthetic >= 6 AND punsafe < 0.5`)."""
    params = {}
    for part in re.split(r"\s+AND\s+", expr):
        m = re.fullmatch(r"(aesthetic|punsafe|pwatermark|similarity)\s*(>=|>|<=|<)\s*([0-9.]+)", part.strip())
        if not m:
            raise SystemExit(f"bench/load: cannot express {part!r} with the search form's fields")
        column, op, value = m.groups()
        # The form's bounds are inclusive; on continuous scores the difference is a few rows at most.
        params[f"{column}_{'min' if op.startswith('>') else 'max'}"] = value
    return params


def request_mix(queries_path):
    paths = []
    for q in json.loads(Path(queries_path).read_text())["queries"]:
        if q["kind"] != "search":
            continue
        params = {}
        if q.get("query"):
            params["q"] = q["query"]
        if q.get("url"):
            params["url"] = q["url"]
        if q.get("where"):
            params.update(where_params(q["where"]))
        if q["sort"] != "relevance":
            params["sort"] = q["sort"]
        if not q["desc"]:
            params["order"] = "asc"
        params["limit"] = str(q["limit"])
        query = urllib.parse.urlencode(params)
        paths += [f"/search.json?{query}", f"/?{query}"]
    return paths


class Connection:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def get(self, path):
        """(status, body bytes) of one GET; reconnects when the server closed the connection."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        status = int(line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            key, _, value = line.decode("latin-1").partition(":")
            key, value = key.strip().lower(), value.strip().lower()
            if key == "content-length":
                length = int(value)
            elif key == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif key == "connection" and value == "close":
                close = True
        size = 0
        if chunked:
            while True:
                n = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(n + 2)
                size += n
                if n == 0:
                    break
        else:
            size = len(await self.reader.readexactly(length))
        if close:
            self.close()
        return status, size

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


async def fixed_rate(host, port, paths, rate, seconds):
    pool = []
    latencies, statuses, errors = [], {}, 0
    start = time.perf_counter() + 0.1

    async def one(i):
        nonlocal errors
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        conn = pool.pop() if pool else Connection(host, port)
        try:
            status, _ = await asyncio.wait_for(conn.get(paths[i % len(paths)]), 30)
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(time.perf_counter() - scheduled)
            pool.append(conn)
        except (OSError, asyncio.TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            errors += 1
            conn.close()

    total = int(rate * seconds)
    await asyncio.gather(*(one(i) for i in range(total)))
    for conn in pool:
        conn.close()
    non_2xx = sum(n for s, n in statuses.items() if not 200 <= s < 300)
    return {
        "offered_rate_per_s": rate,
        "seconds": seconds,
        "requests": total,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": non_2xx,
        "errors": errors,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


async def saturation(host, port, paths, connections, seconds, pid):
    latencies_ok, statuses, errors = [], {}, 0
    rss_max = anon_max = 0
    stop = time.perf_counter() + seconds
    counter = 0

    async def worker(k):
        nonlocal errors, counter
        conn = Connection(host, port)
        i = k
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(conn.get(paths[i % len(paths)]), 30)
                statuses[status] = statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    latencies_ok.append(time.perf_counter() - t)
            except (OSError, asyncio.TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
                errors += 1
                conn.close()
            i += connections
            counter += 1
        conn.close()

    async def sample():
        nonlocal rss_max, anon_max
        while time.perf_counter() < stop:
            rss = rss_kib(pid)
            rss_max = max(rss_max, rss.get("VmRSS", 0))
            # The heap alone: VmRSS also counts the mapped dataset files the page cache holds.
            anon_max = max(anon_max, rss.get("RssAnon", 0))
            await asyncio.sleep(0.2)

    started = time.perf_counter()
    await asyncio.gather(sample(), *(worker(k) for k in range(connections)))
    elapsed = time.perf_counter() - started
    answered = sum(statuses.values())
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    busy = statuses.get(503, 0)
    return {
        "connections": connections,
        "seconds": round(elapsed, 1),
        "requests": answered + errors,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "throughput_per_s": answered / elapsed,
        "ok_per_s": ok / elapsed,
        "share_503": busy / answered if answered else None,
        "other_non_2xx": answered - ok - busy,
        "errors": errors,
        "p50_ok_ms": (percentile(latencies_ok, 50) or 0) * 1000,
        "p99_ok_ms": (percentile(latencies_ok, 99) or 0) * 1000,
        "rss_max_mib": rss_max / 1024,
        "rss_hwm_mib": rss_kib(pid).get("VmHWM", 0) / 1024,
        "anon_rss_max_mib": anon_max / 1024,
        "anon_rss_after_mib": rss_kib(pid).get("RssAnon", 0) / 1024,
    }


def ensure_dataset(bin_path, rows, data_dir):
    data = ensure_synth(bin_path, rows, data_dir)
    ds = data_dir / f"ds-{human_rows(rows)}-laion-aesthetics"
    if not (ds / "CURRENT").exists():
        print(f"== ingesting {data} into {ds}", file=sys.stderr)
        subprocess.run([bin_path, "ingest", "--quiet", "--dataset", str(ds), str(data)], check=True)
    return ds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rows", default="1M")
    ap.add_argument("--smoke", action="store_true", help="10k rows, 3 s per phase, report not kept")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the fixed-rate phase")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--saturation-seconds", type=float, default=30.0)
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for `pairscope serve` (repeatable), e.g. --serve-arg=--facet-cache=0")
    ap.add_argument("--out", help="where to write the result (default bench/results/load-SIZE.json)")
    args = ap.parse_args()
    rows = 10_000 if args.smoke else parse_rows(args.rows)
    seconds = 3.0 if args.smoke else args.seconds
    sat_seconds = 3.0 if args.smoke else args.saturation_seconds
    data_dir = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    ds = ensure_dataset(args.bin, rows, data_dir)
    paths = request_mix(HERE / "queries.json")

    server = subprocess.Popen([args.bin, "serve", "--quiet", "--dataset", str(ds), "--bind", "127.0.0.1:0",
                               *args.serve_arg], stdout=subprocess.PIPE, text=True)
    try:
        url = urllib.parse.urlparse(server.stdout.readline().strip())
        host, port = url.hostname, url.port

        async def run():
            conn = Connection(host, port)
            for path in paths:  # warm: every query once (page cache, name lists)
                status, _ = await conn.get(path)
                if status != 200:
                    raise SystemExit(f"bench/load: {path} answered {status}")
            conn.close()
            print(f"== fixed rate: {args.rate:g} requests/s for {seconds:g} s over {len(paths)} URLs", file=sys.stderr)
            # The server's CPU time per request: comparable between runs on a shared machine,
            # where latencies and throughput depend on what else runs.
            cpu = cpu_seconds(server.pid)
            fixed = await fixed_rate(host, port, paths, args.rate, seconds)
            fixed["server_cpu_ms_per_request"] = (cpu_seconds(server.pid) - cpu) * 1000 / fixed["requests"]
            print(f"== saturation: {args.connections} connections for {sat_seconds:g} s", file=sys.stderr)
            cpu = cpu_seconds(server.pid)
            sat = await saturation(host, port, paths, args.connections, sat_seconds, server.pid)
            sat["server_cpu_ms_per_request"] = (cpu_seconds(server.pid) - cpu) * 1000 / max(1, sat["requests"])
            return fixed, sat

        fixed, sat = asyncio.run(run())
        with urllib.request.urlopen(f"http://{host}:{port}/-/settings.json") as answer:
            settings = json.load(answer)
    finally:
        server.terminate()
        server.wait()
    result = {
        "rows": rows,
        "machine": machine(),
        "load_average_after": os.getloadavg(),
        "server_limits": settings["limits"],
        "serve_args": args.serve_arg,
        "urls": paths,
        "fixed_rate": fixed,
        "saturation": sat,
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.out:
        out = Path(args.out)
    elif args.smoke:
        out = HERE / "out" / "load-smoke.json"
    else:
        out = HERE / "results" / f"load-{human_rows(rows)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    f, s = fixed, sat
    print(f"fixed rate {f['offered_rate_per_s']:g}/s x {f['seconds']:g} s: {f['requests']} requests, "
          f"{f['non_2xx']} non-2xx, {f['errors']} errors, p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, "
          f"max {f['max_ms']:.1f} ms, server CPU {f['server_cpu_ms_per_request']:.1f} ms a request")
    print(f"saturation {s['connections']} connections x {s['seconds']:g} s: {s['throughput_per_s']:.0f} answers/s "
          f"({s['ok_per_s']:.0f} 2xx/s), 503 share {100 * (s['share_503'] or 0):.1f} %, other non-2xx "
          f"{s['other_non_2xx']}, errors {s['errors']}, p99 (2xx) {s['p99_ok_ms']:.1f} ms, "
          f"RSS max {s['rss_max_mib']:.0f} MiB (high-water {s['rss_hwm_mib']:.0f} MiB; anonymous: max "
          f"{s['anon_rss_max_mib']:.0f} MiB, after {s['anon_rss_after_mib']:.0f} MiB), "
          f"server CPU {s['server_cpu_ms_per_request']:.1f} ms a request")
    print(f"written: {out}")
    if f["errors"] or s["errors"] or s["other_non_2xx"]:
        raise SystemExit("bench/load: errors other than 503")


if __name__ == "__main__":
    main()
