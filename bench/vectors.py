"""The vectors section of the benchmark (`bench.py --only vectors`): pairscope's embeddings
ingest, `similar` and `dups` beside faiss-cpu's IndexIVFPQ on the same vectors, in one run.

Data: `pairscope synth --rows N --seed 11 --embeddings` (768-d float16 around 2,000 anisotropic
clusters, 20% near-copies), cached in BENCH_DATA as vectors-<N>-seed11/{src,emb}. A fresh
dataset in the work directory: `ingest` of the parquet (untimed), then `ingest --embeddings`
(timed: wall, CPU, peak RSS; with OPENBLAS_NUM_THREADS=1 unless BENCH_OPENBLAS_THREADS says
otherwise, "default" leaving it unset).

Every comparison is over the vectors pairscope stored (its float16 file, read back): rows that
share url + caption share the first such row's vector, so they differ from synth's own.

- Queries: 1,000 stored vectors of rows drawn with a fixed seed, each moved by gaussian noise of
  norm 0.3 and renormalised (float32); ground truth: the exact top 10 by float32 inner product
  over every vector, and over the rows of each filter (`aesthetic >= X`, X read from the
  source parquet so that 10% and 1% of the rows are kept). Queries and ground truth are cached
  beside the data. recall@10 counts a returned row as right when its exact score is at least
  the 10th best's less 1e-5 (identical vectors tie).
- pairscope: one process per query (`similar --vector q.npy --k 10 [--where …] --json`), the
  first BENCH_VECTOR_CALLS queries (default all; smoke 20) per filter, filters alternating;
  beside it the floor of a call (`similar --exact` over a filter keeping 10 rows, and
  `--version`): what a user's one-shot command costs.
- pairscope in one warm process (the benchmark driver's `similar`, through the library API as
  the server calls it): every query once on one thread (latency), then all of them as one batch
  on two threads (`Engine::similar_batch`: row ids and cosines, as faiss's batch gives ids;
  throughput), and how many batch answers equal the single ones: the shape faiss is timed in.
- faiss (bench/peers/vectors_faiss.py): IVF{nlist},PQ128np at autofaiss's nlist rule (the power
  of two nearest 4·sqrt(N), its rule below 1M vectors; at 1M to 10M it picks
  OPQ128_896,IVF16384_HNSW32,PQ128x8 trained on 1M vectors, hours on 2 cores) and at
  pairscope's own shape (the index's nlist: the same rule since 4·√N; built once then); BENCH_VECTOR_FAISS
  (default "autofaiss,pairscope") picks them. Trained on as many vectors as pairscope's index (at an even stride),
  inner product; build timed as a process; nprobe swept; alone (k=10) and re-ranked (k=200 then
  exact float16 scores, as pairscope does); filters by IDSelectorBitmap.
- dups: `pairscope dups --json` over every row (timed), and over a filter keeping ~100,000 rows,
  whose groups are compared with the exact graph (cosine >= 0.94 by float32 matmul over those
  rows): edge recall (exact pairs whose rows share a pairscope group) and pair precision
  (pairs of rows sharing a pairscope group that share an exact component).
"""

import json
import math
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 11
DIM = 768
QUERIES = 1000
QUERY_SEED = 20_240_611
QUERY_NOISE = 0.3
K = 10
RERANK = 200
TIE = 1e-5
THRESHOLD = 0.94
DUPS_ROWS = 100_000
SMOKE_ROWS = 4_000  # below pairscope's 20,000 vectors for an index: dups scores every pair
FILTER_SHARES = (("10%", 0.10), ("1%", 0.01))
TITLE = "vectors: embeddings ingest, similar, dups vs faiss IVF-PQ"


def log(text):
    print(text, file=sys.stderr, flush=True)


def ensure_data(bin_path, rows, data_dir, measure):
    from bench import human_rows  # the one spelling of a row count in data directory names

    out = data_dir / f"vectors-{human_rows(rows)}-seed{SEED}"
    done = out / "done.json"
    if not done.exists():
        log(f"== vectors: generating {rows} rows with embeddings into {out}")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        m = measure([bin_path, "synth", "--quiet", "--rows", str(rows), "--seed", str(SEED), "--out", str(out / "src"),
                     "--embeddings", str(out / "emb")])
        done.write_text(json.dumps({"synth_s": m.seconds}))
    return out


def pow2_nearest(x):
    return 1 << round(math.log2(max(x, 1.0)))


def stored_vectors(ds):
    """The image vector set of the dataset's current version: (f16 path, rows, manifest entry)."""
    version = int((ds / "CURRENT").read_text().strip())
    manifest = json.loads((ds / "versions" / f"v{version:08d}.json").read_text())
    vset = next(s for s in manifest["vector_sets"] if s["kind"] == "image")
    if len(vset["files"]) != 1:
        raise SystemExit(f"vectors: expected one vector file (one source block), got {len(vset['files'])}")
    f = vset["files"][0]
    return ds / f["path"], f["rows"], vset


def row_positions(bin_path, ds, src_parquet, work, measure):
    """Row ids in file order, checked against the source's URLs: pairscope's row ids of one block
    are (block key << 20) | position."""
    import pyarrow.parquet as pq

    out = work / "row-ids.parquet"
    measure([bin_path, "sql", "-d", str(ds), "--quiet", "--timeout", "0", "--out", str(out),
             "SELECT row_id, url FROM pairs ORDER BY row_id"])
    t = pq.read_table(out)
    ids = t["row_id"].to_numpy()
    n = len(ids)
    if not (np.all((ids & ((1 << 20) - 1)) == np.arange(n)) and np.all((ids >> 20) == (ids[0] >> 20))):
        raise SystemExit("vectors: the row ids are not one block's positions 0..N-1")
    src_urls = pq.read_table(src_parquet, columns=["URL"])["URL"]
    if not t["url"].equals(src_urls):
        raise SystemExit("vectors: the dataset's URLs in row-id order differ from the source parquet's")
    return int(ids[0])


def make_queries(v, path):
    if path.exists():
        z = np.load(path)
        return z["queries"], z["rows"]
    rng = np.random.default_rng(QUERY_SEED)
    rows = np.sort(rng.choice(len(v), size=min(QUERIES, len(v)), replace=False))
    q = v[rows].astype(np.float32)
    q += rng.standard_normal(q.shape, dtype=np.float32) * (QUERY_NOISE / math.sqrt(q.shape[1]))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    np.savez(path, queries=q, rows=rows)
    return q, rows


def ground_truth(v, queries, masks, path):
    """{filter: (ids (Q, K), scores (Q, K))}, exact top K by float32 inner product, chunked."""
    if path.exists():
        z = np.load(path)
        return {name: (z[f"{name}/ids"], z[f"{name}/scores"]) for name in masks}
    log(f"   ground truth over {len(v):,} vectors (float32, chunked)")
    started = time.perf_counter()
    best = {name: (np.full((len(queries), K), -1, np.int64), np.full((len(queries), K), -np.inf, np.float32))
            for name in masks}
    chunk = 65_536
    for at in range(0, len(v), chunk):
        block = np.asarray(v[at:at + chunk], dtype=np.float32)
        scores = queries @ block.T
        for name, mask in masks.items():
            cols = np.arange(at, at + len(block)) if mask is None else np.nonzero(mask[at:at + len(block)])[0] + at
            if len(cols) == 0:
                continue
            s = scores if mask is None else scores[:, cols - at]
            if s.shape[1] > K:
                top = np.argpartition(-s, K - 1, axis=1)[:, :K]
                s = np.take_along_axis(s, top, 1)
                c = cols[top]
            else:
                c = np.broadcast_to(cols, s.shape)
            ids, sc = best[name]
            all_ids, all_sc = np.concatenate([ids, c], axis=1), np.concatenate([sc, s], axis=1)
            top = np.argpartition(-all_sc, K - 1, axis=1)[:, :K]
            best[name] = (np.take_along_axis(all_ids, top, 1), np.take_along_axis(all_sc, top, 1))
    for name, (ids, sc) in best.items():
        order = np.argsort(-sc, axis=1, kind="stable")
        best[name] = (np.take_along_axis(ids, order, 1), np.take_along_axis(sc, order, 1))
    np.savez(path, **{f"{n}/ids": i for n, (i, _) in best.items()}, **{f"{n}/scores": s for n, (_, s) in best.items()})
    log(f"   ground truth: {time.perf_counter() - started:.1f} s")
    return best


def recall(v, queries, truth, found, mask):
    """Mean recall@K of `found` (Q, ≤K ids, -1 for none) and how many returned rows the filter
    does not keep (must be 0)."""
    _, scores = truth
    tenth = scores[:, K - 1] if scores.shape[1] >= K else scores[:, -1]
    hits, outside = [], 0
    for i in range(len(queries)):
        ids = np.unique(found[i][found[i] >= 0])
        if mask is not None:
            outside += int((~mask[ids]).sum())
            ids = ids[mask[ids]]
        exact = np.asarray(v[ids], dtype=np.float32) @ queries[i]
        hits.append(min(K, int((exact >= tenth[i] - TIE).sum())) / K)
    return float(np.mean(hits)), outside


def aesthetic(src_parquet):
    import pyarrow.parquet as pq

    a = pq.read_table(src_parquet, columns=["aesthetic"])["aesthetic"].to_numpy(zero_copy_only=False)
    return np.nan_to_num(a.astype(np.float32), nan=-np.inf)


def threshold(a, keep):
    """The float32 X for which `aesthetic >= X` keeps `keep` rows (more on ties), as a literal."""
    x = np.sort(a)[::-1][max(keep, 1) - 1]
    return repr(float(x)), a >= x


def count_where(bin_path, ds, expr, measure):
    out = measure([bin_path, "count", "-d", str(ds), "--where", expr, "--json", "--quiet"]).out
    doc = json.loads(out)
    return doc["count"] if isinstance(doc, dict) else int(doc)


def summary_ms(times):
    times = sorted(times)
    return {"p50_ms": statistics.median(times) * 1000, "mean_ms": statistics.mean(times) * 1000,
            "p90_ms": times[int(0.9 * (len(times) - 1))] * 1000, "calls": len(times)}


def pairscope_similar(bin_path, ds, qdir, calls, filters, floor_where, base_id, measure):
    """One process per query; filters alternate per query. Returns per filter: times, CPU, RSS,
    what the index did, and the ids found (positions)."""
    out = {name: {"times": [], "cpu": [], "rss": 0, "approx": [], "exactly": [], "kept": None,
                  "ids": np.full((calls, K), -1, np.int64)} for name in [*filters, "floor: --exact, 10 rows", "floor: --version"]}
    for i in range(calls):
        q = qdir / f"q{i:04d}.npy"
        runs = [(name, ["similar", "-d", str(ds), "--vector", str(q), "--k", str(K), "--json", "--quiet",
                        *(["--where", expr] if expr else [])]) for name, expr in filters.items()]
        if i < min(calls, 100):
            runs += [("floor: --exact, 10 rows", ["similar", "-d", str(ds), "--vector", str(q), "--k", str(K), "--json",
                                                   "--quiet", "--exact", "--where", floor_where]),
                     ("floor: --version", ["--version"])]
        for name, args in runs:
            m = measure([bin_path, *args])
            o = out[name]
            o["times"].append(m.seconds)
            o["cpu"].append(m.cpu_s)
            o["rss"] = max(o["rss"], m.peak_rss)
            if args[0] == "similar":
                page = json.loads(m.out)
                o["approx"].append(page["scored_approximately"])
                o["exactly"].append(page["scored_exactly"])
                o["kept"] = page["kept_rows"]
                ids = [h["row_id"] - base_id for h in page["hits"]][:K]
                o["ids"][i, :len(ids)] = ids
        if (i + 1) % 100 == 0:
            log(f"   pairscope similar: {i + 1}/{calls} queries")
    return out


def union_find_labels(n, edges):
    parent = np.arange(n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)])


def exact_pairs(vs, threshold):
    """(i, j) with i < j and vs[i]·vs[j] >= threshold, float32, by chunks of rows."""
    pairs = []
    chunk = 1024
    for at in range(0, len(vs), chunk):
        g = vs[at:at + chunk] @ vs[at:].T
        i, j = np.nonzero(g >= threshold)
        keep = j > i
        pairs.append(np.stack([i[keep] + at, j[keep] + at], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def pairs_within(labels_a, labels_b):
    """Σ C(n,2) over cells of (labels_a, labels_b), over rows where both are >= 0."""
    both = (labels_a >= 0) & (labels_b >= 0)
    _, counts = np.unique(np.stack([labels_a[both], labels_b[both]]), axis=1, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def group_labels(groups, base_id, n):
    """Per position, the index of its pairscope group, -1 when in none."""
    labels = np.full(n, -1, np.int64)
    for g, rows in enumerate(groups):
        labels[np.asarray(rows, np.int64) - base_id] = g
    return labels


def dups_stats(doc, m):
    groups = doc["groups"]
    return {"wall_s": m.seconds, "cpu_s": m.cpu_s, "peak_rss_bytes": m.peak_rss, "rows_searched": doc["rows_searched"],
            "groups": len(groups), "rows_in_groups": sum(len(g) for g in groups), "edges": doc.get("edges"),
            "largest_group": max((len(g) for g in groups), default=0),
            "scored_approximately": doc.get("scored_approximately"), "scored_exactly": doc.get("scored_exactly")}


def comparison(bin_path, driver, rows, data_dir, work, smoke, measure):
    started_all = time.perf_counter()
    if smoke:
        rows = min(rows, SMOKE_ROWS)
    data = ensure_data(bin_path, rows, data_dir, measure)
    src, emb = data / "src", data / "emb"
    src_parquet = sorted(src.glob("*.parquet"))
    if len(src_parquet) != 1:
        raise SystemExit("vectors: expected one source parquet file (N <= 1,048,576: one block)")
    src_parquet = src_parquet[0]
    ds = work / "vectors-ds"
    shutil.rmtree(ds, ignore_errors=True)
    result = {"kind": "vectors", "title": TITLE, "rows": rows, "seed": SEED, "peers": []}

    # -- ingest ---------------------------------------------------------------------------------
    log("== vectors: ingest")
    m = measure([bin_path, "ingest", "--quiet", "--json", "-d", str(ds), str(src)])
    result["ingest_parquet_s"] = m.seconds
    blas = os.environ.get("BENCH_OPENBLAS_THREADS", "1")
    env = dict(os.environ)
    if blas == "default":
        env.pop("OPENBLAS_NUM_THREADS", None)
    else:
        env["OPENBLAS_NUM_THREADS"] = blas
    m = measure([bin_path, "ingest", "--quiet", "--json", "-d", str(ds), "--embeddings", str(emb)], env=env)
    report = json.loads(m.out)
    log(f"   ingest --embeddings: {m.seconds:.1f} s, {m.cpu_s:.1f} CPU-s, {m.peak_rss / 2**20:,.0f} MiB")
    f16, n, vset = stored_vectors(ds)
    index = vset.get("index")
    vec_dir = f16.parent
    ivfpq_bytes = sum(p.stat().st_size for p in vec_dir.glob("*.ivfpq"))
    trained_bytes = sum(p.stat().st_size for p in vec_dir.glob("*.trained"))
    result["ingest"] = {
        "wall_s": m.seconds, "cpu_s": m.cpu_s, "peak_rss_bytes": m.peak_rss,
        "openblas_num_threads": blas, "rows_matched": report["rows_matched"],
        "duplicate_vectors": report["duplicate_vectors"], "index": index and {k: index[k] for k in
                                                                             ("factory", "nlist", "m", "trained_on")},
        "index_bytes": ivfpq_bytes + trained_bytes, "ivfpq_bytes": ivfpq_bytes, "trained_bytes": trained_bytes,
        "f16_bytes": f16.stat().st_size, "index_work": report.get("index"),
    }
    if n != rows:
        raise SystemExit(f"vectors: {n} stored vectors for {rows} rows")
    v = np.memmap(f16, dtype=np.float16, mode="r", shape=(n, DIM))
    base_id = row_positions(bin_path, ds, src_parquet, work, measure)

    # -- queries, filters, ground truth ---------------------------------------------------------
    a = aesthetic(src_parquet)
    filters, masks = {"none": None}, {"none": None}
    for name, share in FILTER_SHARES:
        x, mask = threshold(a, round(share * n))
        filters[name], masks[name] = f"aesthetic >= {x}", mask
    floor_where, _ = threshold(a, 10)
    floor_where = f"aesthetic >= {floor_where}"
    result["filters"] = {name: {"where": expr, "rows": int(n if masks[name] is None else masks[name].sum())}
                         for name, expr in filters.items()}
    for name, expr in filters.items():
        if expr:
            got = count_where(bin_path, ds, expr, measure)
            if got != result["filters"][name]["rows"]:
                raise SystemExit(f"vectors: pairscope count --where {expr!r} = {got}, the parquet says "
                                 f"{result['filters'][name]['rows']}")
    queries, qrows = make_queries(v, data / f"queries-{QUERIES}-seed{QUERY_SEED}.npz")
    key = "-".join(f"{x}" for x in filters.values() if x).replace(" ", "").replace(">=", "ge")
    truth = ground_truth(v, queries, masks, data / f"truth-{n}-q{QUERY_SEED}-{key}.npz")
    qdir = work / "queries"
    qdir.mkdir(exist_ok=True)
    for i, q in enumerate(queries):
        np.save(qdir / f"q{i:04d}.npy", q)
    result["queries"] = {"count": len(queries), "noise_norm": QUERY_NOISE, "seed": QUERY_SEED,
                         "mean_cosine_to_source": float(np.mean(np.sum(queries * v[qrows].astype(np.float32), 1)))}

    # -- pairscope similar ----------------------------------------------------------------------
    calls = int(os.environ.get("BENCH_VECTOR_CALLS", "20" if smoke else str(len(queries))))
    calls = min(calls, len(queries))
    log(f"== vectors: pairscope similar, {calls} calls per filter, one process each")
    got = pairscope_similar(bin_path, ds, qdir, calls, filters, floor_where, base_id, measure)
    ps = {}
    for name, o in got.items():
        entry = {**summary_ms(o["times"]), "cpu_ms_mean": statistics.mean(o["cpu"]) * 1000, "peak_rss_bytes": o["rss"]}
        if name in filters:
            r, outside = recall(v, queries[:calls], (truth[name][0][:calls], truth[name][1][:calls]), o["ids"],
                                masks[name])
            entry.update({"recall": r, "outside_filter": outside, "kept_rows": o["kept"],
                          "codes_scanned_mean": statistics.mean(o["approx"]),
                          "rescored_mean": statistics.mean(o["exactly"])})
        ps[name] = entry
    result["pairscope_similar"] = ps

    log("== vectors: pairscope similar in one process (bench_driver similar)")
    qpath = work / "queries.npy"
    np.save(qpath, queries)
    inproc = {}
    for name, expr in filters.items():
        m = measure([driver, "similar", "-d", str(ds), "--queries", str(qpath), "--k", str(K), "--batch-threads", "2"]
                    + (["--where", expr] if expr else []))
        doc = json.loads(m.out)
        ids = np.full((len(queries), K), -1, np.int64)
        for i, c in enumerate(doc["calls"]):
            ids[i, :len(c["rows"][:K])] = [row - base_id for row in c["rows"][:K]]
        r, outside = recall(v, queries, truth[name], ids, masks[name])
        inproc[name] = {**summary_ms([c["ms"] / 1000 for c in doc["calls"]]), "recall": r, "outside_filter": outside,
                        "batch_qps": doc["batch_queries"] / doc["batch_seconds"], "peak_rss_bytes": m.peak_rss,
                        "batch_agrees": doc.get("batch_agrees"),
                        "codes_scanned_mean": statistics.mean(c["scored_approximately"] for c in doc["calls"]),
                        "rescored_mean": statistics.mean(c["scored_exactly"] for c in doc["calls"])}
        log(f"   {name}: p50 {inproc[name]['p50_ms']:.2f} ms, recall {r:.3f}, {inproc[name]['batch_qps']:,.0f} q/s")
    result["pairscope_in_process"] = inproc

    # -- faiss ------------------------------------------------------------------------------------
    trained_on = index["trained_on"] if index else min(n, 65_536)
    masks_path = work / "masks.npz"
    np.savez(masks_path, **{name: m for name, m in masks.items() if m is not None})
    nprobes = (4, 8, 16, 32, 64) if smoke else (8, 16, 32, 64, 128, 256)
    ours_nlist = pow2_nearest(4 * math.sqrt(n))
    if index:
        ours_nlist = index["nlist"]
    # "np": no polysemous training (index_factory's default for an IVF-PQ: it only reorders the
    # PQ centroids, for a Hamming pre-filter neither side's search uses, at a large training cost)
    # smoke: a PQ16 on 4,096 vectors (PQ128's 128 k-means take minutes even on 10,000 vectors)
    m = 16 if smoke else 128
    if smoke:
        trained_on = min(trained_on, 4096)
    shapes = {"autofaiss": ("autofaiss's nlist rule (4·√N)", f"IVF{pow2_nearest(4 * math.sqrt(n))},PQ{m}np"),
              "pairscope": ("pairscope's shape", f"IVF{ours_nlist},PQ{m}np")}
    wanted = os.environ.get("BENCH_VECTOR_FAISS", "autofaiss,pairscope").split(",")
    shapes = [shapes[w] for w in wanted]
    # pairscope's shape is autofaiss's rule since 4·√N: one build then, under both names
    shapes = [(label, f) for i, (label, f) in enumerate(shapes) if f not in [g for _, g in shapes[:i]]]
    faiss_out = []
    py = sys.executable
    peer = str(HERE / "peers" / "vectors_faiss.py")
    for label, factory in shapes:
        log(f"== vectors: faiss {factory} ({label}): build")
        out_index = work / f"faiss-{factory.replace(',', '-')}.index"
        m = measure([py, peer, "build", "--vectors", str(f16), "--rows", str(n), "--dim", str(DIM), "--factory", factory,
                     "--train", str(trained_on), "--out", str(out_index)])
        built = json.loads(m.out)
        log(f"   build: {m.seconds:.1f} s ({built['train_s']:.1f} s training), {m.peak_rss / 2**20:,.0f} MiB")
        entry = {"label": label, "factory": factory, "build": {"wall_s": m.seconds, "cpu_s": m.cpu_s,
                                                              "peak_rss_bytes": m.peak_rss, **built},
                 "index_bytes": out_index.stat().st_size}
        log(f"== vectors: faiss {factory}: nprobe sweep")
        ids_path = work / "faiss-ids.npz"
        m = measure([py, peer, "search", "--vectors", str(f16), "--rows", str(n), "--dim", str(DIM), "--index",
                     str(out_index), "--queries", str(qpath), "--masks", str(masks_path), "--nprobes",
                     ",".join(map(str, nprobes)), "--rerank", str(RERANK), "--out", str(ids_path)])
        searched = json.loads(m.out)
        entry["search_peak_rss_bytes"] = m.peak_rss
        entry["faiss_version"] = searched["faiss"]
        found = np.load(ids_path)
        for row in searched["results"]:
            for mode in ("index", "rerank"):
                ids = found[f"{row['filter']}/{row['nprobe']}/{mode}"]
                row[mode]["recall"], row[mode]["outside_filter"] = recall(v, queries, truth[row["filter"]], ids,
                                                                          masks[row["filter"]])
        entry["sweep"] = searched["results"]
        faiss_out.append(entry)
        out_index.unlink()
        ids_path.unlink()
    result["faiss"] = faiss_out

    # -- dups -------------------------------------------------------------------------------------
    log("== vectors: pairscope dups over every row")
    m = measure([bin_path, "dups", "-d", str(ds), "--json", "--quiet"])
    full = json.loads(m.out)
    result["dups_all"] = dups_stats(full, m)
    log(f"   dups: {m.seconds:.1f} s, {result['dups_all']['groups']:,} groups")
    full_labels = group_labels(full["groups"], base_id, n)
    del full
    if n > DUPS_ROWS:
        expr, sel = threshold(a, DUPS_ROWS)
        expr = f"aesthetic >= {expr}"
        log(f"== vectors: pairscope dups --where {expr!r}")
        m = measure([bin_path, "dups", "-d", str(ds), "--json", "--quiet", "--where", expr])
        part = json.loads(m.out)
        result["dups_selection"] = {"where": expr, **dups_stats(part, m)}
        part_labels = group_labels(part["groups"], base_id, n)
    else:
        expr, sel = None, np.ones(n, bool)
        part_labels = full_labels
        result["dups_selection"] = {"where": None, **result["dups_all"]}
    positions = np.nonzero(sel)[0]
    log(f"   exact pairs over {len(positions):,} rows (float32 matmul)")
    started = time.perf_counter()
    vs = np.asarray(v[positions], dtype=np.float32)
    pairs = exact_pairs(vs, THRESHOLD)
    del vs
    exact_s = time.perf_counter() - started
    comp = union_find_labels(len(positions), pairs)
    sizes = np.bincount(comp, minlength=len(positions))
    comp = np.where(sizes[comp] > 1, comp, -1)  # a row alone is in no component
    ps_sel = part_labels[positions]
    same = ps_sel[pairs[:, 0]] == ps_sel[pairs[:, 1]]
    in_group = ps_sel[pairs[:, 0]] >= 0
    full_sel = full_labels[positions]
    same_full = (full_sel[pairs[:, 0]] == full_sel[pairs[:, 1]]) & (full_sel[pairs[:, 0]] >= 0)
    grouped_pairs = pairs_within(ps_sel, np.zeros_like(ps_sel))
    exact_comp_pairs = pairs_within(comp, np.zeros_like(comp))
    both = pairs_within(ps_sel, comp)
    result["dups_quality"] = {
        "rows": int(len(positions)), "exact_pairs": int(len(pairs)), "exact_s": exact_s,
        "exact_components": int(len(np.unique(comp[comp >= 0]))), "rows_in_components": int((comp >= 0).sum()),
        "edge_recall": float((same & in_group).mean()) if len(pairs) else None,
        "edge_recall_full_run": float(same_full.mean()) if len(pairs) else None,
        "pairscope_grouped_pairs": grouped_pairs, "exact_component_pairs": exact_comp_pairs,
        "pair_precision": both / grouped_pairs if grouped_pairs else None,
        "component_pair_recall": both / exact_comp_pairs if exact_comp_pairs else None,
    }
    result["total_s"] = time.perf_counter() - started_all
    shutil.rmtree(ds, ignore_errors=True)
    shutil.rmtree(qdir, ignore_errors=True)
    return [result]


# ---- the report ---------------------------------------------------------------------------------

def _mib(b):
    return f"{b / 2**20:,.0f} MiB"


def _ms(x):
    return "—" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def render(c):
    n = c["rows"]
    ing = c["ingest"]
    idx = ing["index"] or {}
    lines = [f"### {c['title']}", "",
             f"Data: `pairscope synth --rows {n} --seed {c['seed']} --embeddings EMB` (768-d float16, 2,000 anisotropic "
             f"clusters, 20% near-copies); every number is over the vectors pairscope stored "
             f"({ing['duplicate_vectors']:,} rows share an earlier row's url + caption and so its vector). "
             f"{c['queries']['count']:,} queries: stored vectors of random rows moved by noise of norm "
             f"{c['queries']['noise_norm']} (mean cosine to their row {c['queries']['mean_cosine_to_source']:.3f}); "
             "ground truth: exact float32 inner product. recall@10: a returned row counts when its exact score is at "
             "least the 10th best's − 1e-5. Filters: "
             + "; ".join(f"{k} `{f['where']}` ({f['rows']:,} rows)" for k, f in c["filters"].items() if f["where"])
             + ".", "",
             "| ingest --embeddings | wall s | CPU s | cores | peak RSS | index | index bytes/vector | float16 re-rank store |",
             "|---|---:|---:|---:|---:|---|---:|---:|",
             f"| pairscope (OPENBLAS_NUM_THREADS={ing['openblas_num_threads']}) | {ing['wall_s']:.1f} | {ing['cpu_s']:.1f} | "
             f"{ing['cpu_s'] / ing['wall_s']:.2f} | {_mib(ing['peak_rss_bytes'])} | "
             f"{idx.get('factory', 'none (too few vectors)')}, trained on {idx.get('trained_on', 0):,} | "
             f"{ing['index_bytes'] / n:.1f} ({ing['ivfpq_bytes'] / n:.1f} lists + {ing['trained_bytes'] / n:.1f} model) | "
             f"{ing['f16_bytes'] / n:,.0f} B/vector |"]
    work = ing.get("index_work")
    if work:
        lines[-1] = lines[-1].replace(f"trained on {idx.get('trained_on', 0):,}",
                                      f"trained on {idx.get('trained_on', 0):,} ({work['train_seconds']:.0f} s), "
                                      f"{work['vectors_encoded']:,} encoded in {work['encode_seconds']:.0f} s")
    for f in c["faiss"]:
        b = f["build"]
        lines.append(f"| faiss {f['factory']} ({f['label']}), train + add, 2 threads | {b['wall_s']:.1f} | {b['cpu_s']:.1f} | "
                     f"{b['cpu_s'] / b['wall_s']:.2f} | {_mib(b['peak_rss_bytes'])} | trained on {b['trained_on']:,} "
                     f"({b['train_s']:.1f} s), added in {b['add_s']:.1f} s | {f['index_bytes'] / n:.1f} (whole index "
                     "file) | — |")
    ps = c["pairscope_similar"]
    lines += ["", "pairscope `similar --vector q.npy --k 10 [--where …] --json`, one process per query (wall of the "
              "whole process, GNU time around it; the floor rows are what a call costs without searching):", "",
              "| pairscope similar | calls | p50 ms | mean ms | p90 ms | CPU ms | peak RSS | recall@10 | kept rows | "
              "codes scanned | re-scored |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in ps.items():
        lines.append(f"| {name} | {e['calls']} | {_ms(e['p50_ms'])} | {_ms(e['mean_ms'])} | {_ms(e['p90_ms'])} | "
                     f"{_ms(e['cpu_ms_mean'])} | {_mib(e['peak_rss_bytes'])} | "
                     + (f"{e['recall']:.3f}" + (f" ({e['outside_filter']} outside the filter!)" if e["outside_filter"]
                                               else "") if "recall" in e else "—")
                     + f" | {e.get('kept_rows') or '—'} | {e.get('codes_scanned_mean', 0):,.0f} | "
                     f"{e.get('rescored_mean', 0):,.0f} |")
    lines += ["", "pairscope in one warm process (`bench_driver similar`, the library call the server makes): each "
              "query once on one thread, then every query as one batch on two threads (`similar_batch`, ids and "
              "cosines" + (", answers equal to the single calls': " + ", ".join(
                  f"{k} {e['batch_agrees']}" for k, e in c.get("pairscope_in_process", {}).items()
                  if e.get("batch_agrees") is not None) if any(
                  e.get("batch_agrees") is not None for e in c.get("pairscope_in_process", {}).values()) else "")
              + "):", "",
              "| pairscope similar, in process | p50 ms | mean ms | p90 ms | recall@10 | codes scanned | re-scored | "
              "2-thread batch q/s | peak RSS |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in c.get("pairscope_in_process", {}).items():
        lines.append(f"| {name} | {_ms(e['p50_ms'])} | {_ms(e['mean_ms'])} | {_ms(e['p90_ms'])} | {e['recall']:.3f}"
                     + (f" ({e['outside_filter']} outside the filter!)" if e["outside_filter"] else "")
                     + f" | {e['codes_scanned_mean']:,.0f} | {e['rescored_mean']:,.0f} | {e['batch_qps']:,.0f} | "
                     f"{_mib(e['peak_rss_bytes'])} |")
    floor = ps.get("floor: --exact, 10 rows", {}).get("p50_ms")
    if floor:
        lines += ["", "Search work beyond the floor (p50 − floor p50): " + ", ".join(
            f"{k} {_ms(e['p50_ms'] - floor)} ms" for k, e in ps.items() if "recall" in e) + "."]
    lines += ["", "faiss, one query at a time on one thread (`index.search` of one row; Python call included), and "
              "batches of every query on two threads. index: k=10 from the codes; re-ranked: k=200 then exact "
              "float16 scores in numpy, as pairscope does (in a batch: the search of every query, then the "
              "re-ranking on two threads). Filters: IDSelectorBitmap in SearchParametersIVF.", "",
              "| faiss index | filter | nprobe | recall@10 | p50 ms | recall@10 re-ranked | p50 ms re-ranked | "
              "2-thread batch q/s | 2-thread batch q/s re-ranked |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in c["faiss"]:
        for r in f["sweep"]:
            bad = " (rows outside the filter!)" if r["index"]["outside_filter"] or r["rerank"]["outside_filter"] else ""
            lines.append(f"| {f['factory']} | {r['filter']}{bad} | {r['nprobe']} | {r['index']['recall']:.3f} | "
                         f"{_ms(r['index']['p50_ms'])} | {r['rerank']['recall']:.3f} | {_ms(r['rerank']['p50_ms'])} | "
                         f"{r['batch_2_threads_qps']:,.0f} | "
                         + (f"{r['batch_2_threads_rerank_qps']:,.0f}" if "batch_2_threads_rerank_qps" in r else "—")
                         + " |")
    d, s, qd = c["dups_all"], c["dups_selection"], c["dups_quality"]
    lines += ["", "| pairscope dups --json | rows searched | wall s | CPU s | peak RSS | groups | rows in groups | "
              "largest | edges |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, e in (("every row", d), (f"`--where '{s['where']}'`", s) if s["where"] else (None, None)):
        if name:
            lines.append(f"| {name} | {e['rows_searched']:,} | {e['wall_s']:.1f} | {e['cpu_s']:.1f} | "
                         f"{_mib(e['peak_rss_bytes'])} | {e['groups']:,} | {e['rows_in_groups']:,} | "
                         f"{e['largest_group']:,} | {e['edges'] or 0:,} |")
    pct = lambda x: "—" if x is None else f"{x:.4f}"  # noqa: E731
    lines += ["", f"Against the exact graph over the {qd['rows']:,} rows of the selection (cosine ≥ {THRESHOLD}, float32, "
              f"{qd['exact_s']:.0f} s): {qd['exact_pairs']:,} exact pairs, {qd['exact_components']:,} components holding "
              f"{qd['rows_in_components']:,} rows. Edge recall (exact pairs whose rows share a group): "
              f"{pct(qd['edge_recall'])} (the same pairs in the every-row run's groups: "
              f"{pct(qd['edge_recall_full_run'])}); pair precision (pairs of rows sharing a pairscope group that share "
              f"an exact component): {pct(qd['pair_precision'])} of {qd['pairscope_grouped_pairs']:,}; pairs sharing an "
              f"exact component found in one group: {pct(qd['component_pair_recall'])} of "
              f"{qd['exact_component_pairs']:,}.", "",
              f"The section took {c['total_s'] / 60:.0f} min.", ""]
    return lines
