"""The vectors section's peer: faiss-cpu's IndexIVFPQ over the same stored vectors pairscope
searches (its float16 file, read as float32), inner product.

  build  --vectors F16 --rows N --dim D --factory 'IVF4096,PQ128' --train T --out INDEX
         trains on T vectors taken at an even stride (pairscope's sample size), then adds all N
         in batches (the float16 file is memory-mapped; only a batch is float32 at a time);
         prints {"train_s", "add_s", "index_bytes"} (the harness measures wall, CPU, peak RSS).
  search --vectors F16 --rows N --dim D --index INDEX --queries Q.npy --masks M.npz
         --nprobes 8,16,... --out IDS.npz
         per filter (none and each mask of M.npz, by faiss's IDSelectorBitmap through
         SearchParametersIVF) and nprobe: one query at a time on one thread (k=10: the index
         alone; k=200 re-ranked exactly from the float16 vectors, as pairscope does), then
         batches of every query on two threads: k=10 from the codes, and k=200 re-ranked (the
         search as one batch, then each query's candidates scored from the float16 vectors on
         two threads: the recall of the re-ranked row above). Writes the ids to IDS.npz and
         prints the latencies as JSON.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np

BATCH = 65_536


def vectors(path, rows, dim):
    return np.memmap(path, dtype=np.float16, mode="r", shape=(rows, dim))


def build(args):
    v = vectors(args.vectors, args.rows, args.dim)
    index = faiss.index_factory(args.dim, args.factory, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    sample = np.linspace(0, args.rows - 1, min(args.train, args.rows)).astype(np.int64)
    index.train(np.ascontiguousarray(v[sample], dtype=np.float32))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    for at in range(0, args.rows, BATCH):
        index.add(np.ascontiguousarray(v[at:at + BATCH], dtype=np.float32))
    add_s = time.perf_counter() - started
    faiss.write_index(index, args.out)
    ivf = faiss.extract_index_ivf(index)
    print(json.dumps({"train_s": train_s, "add_s": add_s, "ntotal": index.ntotal, "nlist": ivf.nlist,
                      "trained_on": int(len(sample)), "faiss": faiss.__version__}))


def rerank(v, query, found, k=10):
    """The k best of `found` (ids, -1 for none) by exact inner product with `query`."""
    found = found[found >= 0]
    scores = v[found].astype(np.float32) @ query
    return found[np.argsort(-scores, kind="stable")[:k]]


def search(args):
    v = vectors(args.vectors, args.rows, args.dim)
    index = faiss.read_index(args.index)
    ivf = faiss.extract_index_ivf(index)
    queries = np.load(args.queries).astype(np.float32)
    masks = np.load(args.masks)
    filters = [("none", None)] + [(name, masks[name]) for name in masks.files]
    nprobes = [int(x) for x in args.nprobes.split(",")]
    out_ids, report = {}, []
    for fname, mask in filters:
        selector = bitmap = None
        if mask is not None:
            bitmap = np.packbits(mask.astype(np.uint8), bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        for nprobe in nprobes:
            if nprobe > ivf.nlist:
                continue
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            if selector is not None:
                params.sel = selector
            entry = {"filter": fname, "nprobe": nprobe}
            faiss.omp_set_num_threads(1)
            for mode, k in (("index", 10), ("rerank", args.rerank)):
                times = np.empty(len(queries))
                ids = np.full((len(queries), 10), -1, dtype=np.int64)
                for i in range(len(queries)):
                    q = queries[i:i + 1]
                    started = time.perf_counter()
                    _, found = index.search(q, k, params=params)
                    found = found[0]
                    if mode == "rerank":
                        found = rerank(v, q[0], found)
                    times[i] = time.perf_counter() - started
                    ids[i, :min(10, len(found))] = found[:10]
                out_ids[f"{fname}/{nprobe}/{mode}"] = ids
                entry[mode] = {"p50_ms": float(np.median(times) * 1000), "mean_ms": float(times.mean() * 1000),
                               "p99_ms": float(np.quantile(times, 0.99) * 1000)}
            faiss.omp_set_num_threads(2)
            index.search(queries[:10], 10, params=params)  # warm the threads
            started = time.perf_counter()
            index.search(queries, 10, params=params)
            entry["batch_2_threads_qps"] = len(queries) / (time.perf_counter() - started)
            with ThreadPoolExecutor(2) as pool:
                started = time.perf_counter()
                _, found = index.search(queries, args.rerank, params=params)
                halves = np.array_split(np.arange(len(queries)), 2)
                list(pool.map(lambda half: [rerank(v, queries[i], found[i]) for i in half], halves))
                entry["batch_2_threads_rerank_qps"] = len(queries) / (time.perf_counter() - started)
            report.append(entry)
            print(json.dumps(entry), file=sys.stderr)
    np.savez(args.out, **out_ids)
    print(json.dumps({"results": report, "faiss": faiss.__version__}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("build", "search"):
        p = sub.add_parser(name)
        p.add_argument("--vectors", required=True)
        p.add_argument("--rows", type=int, required=True)
        p.add_argument("--dim", type=int, required=True)
    b = sub.choices["build"]
    b.add_argument("--factory", required=True)
    b.add_argument("--train", type=int, required=True)
    b.add_argument("--out", required=True)
    s = sub.choices["search"]
    s.add_argument("--index", required=True)
    s.add_argument("--queries", required=True)
    s.add_argument("--masks", required=True)
    s.add_argument("--nprobes", required=True)
    s.add_argument("--rerank", type=int, default=200)
    s.add_argument("--out", required=True)
    args = ap.parse_args()
    build(args) if args.command == "build" else search(args)


if __name__ == "__main__":
    main()
