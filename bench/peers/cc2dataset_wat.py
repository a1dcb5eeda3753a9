"""The collect peer: cc2dataset 1.5.0's own WAT extractor, `extract_documents_from_wat`, run on
local files without Spark.

cc2dataset imports pyspark (and fsspec, loguru) at module level though the extractor uses none of
them but `logger.info`; stub modules stand in for those, so only cc2dataset, FastWARC and
pysimdjson (bench/requirements-nodeps.txt, installed with --no-deps) are needed. Each file is
read into memory whole before extraction, as cc2dataset's `process_wat` does.

Usage: cc2dataset_wat.py [--pairs FILE.jsonl] WAT...
Writes one {"url", "alt", "uid", "page_url"} object per pair, in extraction order, to --pairs
(if given), and prints {"pairs": N, "failed_records": N, "failed_shards": N, "seconds": S} where seconds
covers the extraction only, not the file read.
"""

import argparse
import io
import json
import sys
import time
import types


class _CountingLogger:
    """loguru's `logger` as the extractor uses it: it logs failures, so they are counted here."""

    def __init__(self):
        self.messages = []

    def info(self, message, *args):
        self.messages.append(str(message))


def _stub_imports():
    pyspark = types.ModuleType("pyspark")
    pyspark.SparkContext = object
    sql = types.ModuleType("pyspark.sql")
    sql.SparkSession = object
    functions = types.ModuleType("pyspark.sql.functions")
    functions.rand = lambda *a, **k: None
    pyspark.sql = sql
    sql.functions = functions
    loguru = types.ModuleType("loguru")
    loguru.logger = _CountingLogger()
    fsspec = types.ModuleType("fsspec")
    sys.modules.update(
        {
            "pyspark": pyspark,
            "pyspark.sql": sql,
            "pyspark.sql.functions": functions,
            "loguru": loguru,
            "fsspec": fsspec,
        }
    )
    return loguru.logger


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs")
    ap.add_argument("wat", nargs="+")
    a = ap.parse_args()

    logger = _stub_imports()
    from cc2dataset.main import extract_documents_from_wat

    out = open(a.pairs, "w", encoding="utf-8") if a.pairs else None
    pairs = 0
    seconds = 0.0
    for path in a.wat:
        with open(path, "rb") as f:
            data = f.read()
        start = time.perf_counter()
        links = extract_documents_from_wat(io.BytesIO(data), "image")
        seconds += time.perf_counter() - start
        pairs += len(links)
        if out is not None:
            for link in links:
                row = {k: link[k] for k in ("url", "alt", "uid", "page_url")}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    if out is not None:
        out.close()
    failed_records = sum(m == "A shard record failed" for m in logger.messages)
    failed_shards = sum(m == "A shard failed to parse" for m in logger.messages)
    summary = {
        "pairs": pairs,
        "failed_records": failed_records,
        "failed_shards": failed_shards,
        "seconds": seconds,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
