#!/usr/bin/env python3
"""Language ID of short texts: accuracy per kind and per language, and texts/s, for CLD3
(gcld3, LAION's detector) and the Rust detectors run by `crates/collect/examples/langid_eval.rs`,
side by side on ../shared/data/langid/labelled-short-texts.tsv.gz. Writes bench/LANGID.md.

    bench/.venv/bin/python bench/langid.py [--tsv PATH] [--out bench/LANGID.md]
"""
import argparse
import collections
import datetime
import gzip
import os
import platform
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ["sentences", "word-pairs", "single-words"]

# whatlang answers in ISO 639-3; the labels are ISO 639-1.
ISO3_TO_1 = {
    "epo": "eo", "eng": "en", "rus": "ru", "cmn": "zh", "spa": "es", "por": "pt", "ita": "it", "ben": "bn",
    "fra": "fr", "deu": "de", "ukr": "uk", "kat": "ka", "ara": "ar", "hin": "hi", "jpn": "ja", "heb": "he",
    "yid": "yi", "pol": "pl", "amh": "am", "jav": "jv", "kor": "ko", "nob": "nb", "dan": "da", "swe": "sv",
    "fin": "fi", "tur": "tr", "nld": "nl", "hun": "hu", "ces": "cs", "ell": "el", "bul": "bg", "bel": "be",
    "mar": "mr", "kan": "kn", "ron": "ro", "slv": "sl", "hrv": "hr", "srp": "sr", "mkd": "mk", "lit": "lt",
    "lav": "lv", "est": "et", "tam": "ta", "vie": "vi", "urd": "ur", "tha": "th", "guj": "gu", "uzb": "uz",
    "pan": "pa", "aze": "az", "ind": "id", "tel": "te", "pes": "fa", "mal": "ml", "ori": "or", "mya": "my",
    "nep": "ne", "sin": "si", "khm": "km", "tuk": "tk", "aka": "ak", "zul": "zu", "sna": "sn", "afr": "af",
    "lat": "la", "slk": "sk", "cat": "ca", "tgl": "tl", "hye": "hy",
}


def load(path):
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        next(f)
        for line in f:
            lang, kind, text = line.rstrip("\n").split("\t", 2)
            rows.append((lang, kind, text))
    return rows


def cld3(rows):
    import gcld3

    detector = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
    started = time.perf_counter()
    predictions = []
    for _, _, text in rows:
        r = detector.FindLanguage(text=text)
        predictions.append(r.language.split("-")[0] if r.language != "und" else "und")
    return predictions, len(rows) / (time.perf_counter() - started)


def rust(rows, tsv, detector):
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/pairscope-target"))
    cmd = ["cargo", "run", "-q", "--release", "-p", "pairscope-collect", "--example", "langid_eval", "--", tsv, detector]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    predictions = [ISO3_TO_1.get(p, p) for p in done.stdout.split("\n")[: len(rows)]]
    rate = float(done.stderr.strip().split(":")[-1].split()[0])
    return predictions, rate


def accuracy(rows, predictions):
    by_kind = collections.defaultdict(lambda: [0, 0])
    by_lang = collections.defaultdict(lambda: [0, 0])
    for (lang, kind, _), p in zip(rows, predictions):
        for d, k in ((by_kind, kind), (by_lang, (lang, kind))):
            d[k][0] += p == lang
            d[k][1] += 1
    return by_kind, by_lang


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tsv", default=os.path.join(ROOT, "..", "shared", "data", "langid", "labelled-short-texts.tsv.gz"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "LANGID.md"))
    args = parser.parse_args()
    if not os.path.exists(args.tsv):
        print(f"skipping: {args.tsv} is not here")
        return
    rows = load(args.tsv)
    results = {}
    results["CLD3 (gcld3)"] = cld3(rows)
    results["whatlang 0.18 (Rust), top answer"] = rust(rows, args.tsv, "whatlang")
    results["pairscope collect (whatlang, `und` unless reliable)"] = rust(rows, args.tsv, "collect")
    langs = sorted({l for l, _, _ in rows})
    lines = [
        "# Language ID of short texts",
        "",
        f"- run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, `bench/.venv/bin/python bench/langid.py`",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        f"- data: `labelled-short-texts.tsv.gz`, {len(rows):,} texts in {len(langs)} languages (Leipzig corpora via lingua's test set)",
        "- one thread each; accuracy = the answer equals the label (`und` counts as wrong)",
        "",
        "| detector | sentences | word pairs | single words | answered (not `und`) | right when answered | texts/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    per_lang = {}
    for name, (predictions, rate) in results.items():
        by_kind, by_lang = accuracy(rows, predictions)
        per_lang[name] = by_lang
        cells = [f"{100 * by_kind[k][0] / max(by_kind[k][1], 1):.1f}%" for k in KINDS]
        answered = [(p == l) for (l, _, _), p in zip(rows, predictions) if p != "und"]
        cells.append(f"{100 * len(answered) / len(rows):.1f}%")
        cells.append(f"{100 * sum(answered) / max(len(answered), 1):.1f}%")
        lines.append(f"| {name} | {' | '.join(cells)} | {rate:,.0f} |")
    lines += ["", "## Word pairs, per language", "", "| lang | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for lang in langs:
        cells = []
        for name in results:
            ok, n = per_lang[name].get((lang, "word-pairs"), [0, 0])
            cells.append(f"{100 * ok / n:.0f}%" if n else "–")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
