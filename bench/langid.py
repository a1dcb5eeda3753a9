#!/usr/bin/env python3
"""Language ID of short texts: accuracy per kind and per language, and texts/s, for CLD3
(gcld3, LAION's detector), lingua (lingua-language-detector, the Python build of lingua-rs) and
the Rust detectors run by `crates/langid/examples/langid_eval.rs`, side by side on
../shared/data/langid/labelled-short-texts.tsv.gz. Writes bench/LANGID.md.

    apt-get install protobuf-compiler libprotobuf-dev   # gcld3 builds against them
    bench/.venv/bin/pip install gcld3==3.0.13 lingua-language-detector==2.1.1
    bench/.venv/bin/python bench/langid.py [--tsv PATH] [--out bench/LANGID.md] [--no-lingua]

(Not in requirements.txt: gcld3 needs the protobuf packages, which `dev/test` must not.)

The texts are split in two by FNV-1a 64 of their UTF-8: pairscope's `und` threshold
(`langid::MIN_MARGIN`) was tuned on the even half, and every accuracy reported is on the odd
half. The Rust side is the example binary `cargo test --release --workspace --no-run` builds,
copied before it runs (another clone's build may replace it).
"""
import argparse
import collections
import datetime
import gzip
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEEP_MARKER = "<!-- written by hand from here on; bench/langid.py keeps it -->"
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


# CLD3 answers a few languages with older codes than the labels' ISO 639-1.
CLD3_CODES = {"iw": "he", "fil": "tl", "no": "nb"}


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


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
    rate = len(rows) / (time.perf_counter() - started)
    return [CLD3_CODES.get(p, p) for p in predictions], rate


def lingua(rows, low_accuracy):
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()
    started = time.perf_counter()
    answers = [detector.detect_language_of(text) for _, _, text in rows]
    rate = len(rows) / (time.perf_counter() - started)
    return [a.iso_code_639_1.name.lower() if a else "und" for a in answers], rate


def eval_binary():
    """The example binary, built the workspace way and copied at once to a private path (the
    target dir is shared: another clone's build may replace the file)."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/pairscope-target"))
    cmd = ["cargo", "test", "--release", "--workspace", "--no-run", "--message-format=json-render-diagnostics"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    built = None
    for line in done.stdout.splitlines():
        message = json.loads(line)
        target = message.get("target", {})
        if message.get("reason") == "compiler-artifact" and target.get("name") == "langid_eval" and "example" in target.get("kind", []):
            built = message["executable"]
    private = os.path.join(tempfile.mkdtemp(prefix="langid-"), "langid_eval")
    shutil.copy2(built, private)
    return private


def rust(binary, rows, tsv, detector):
    done = subprocess.run([binary, tsv, detector], capture_output=True, text=True, check=True)
    lines = done.stdout.split("\n")[: len(rows)]
    rate = float(done.stderr.strip().split(":")[-1].split()[0])
    return lines, rate


def margin_table(rows, lines):
    """On the tuning half: how often pairscope's top answer is right, by its margin."""
    edges = [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 8, float("inf")]
    tally = [[0, 0] for _ in edges[:-1]]
    for (lang, _, text), line in zip(rows, lines):
        if fnv1a(text) & 1:
            continue
        top, margin, _ = line.split("\t")
        margin = float(margin)
        if margin == float("inf"):
            continue
        i = next(i for i in range(len(edges) - 1) if margin < edges[i + 1])
        tally[i][0] += top == lang
        tally[i][1] += 1
    out = ["| margin (nats) | texts | top answer right |", "|---|---:|---:|"]
    for i, (ok, n) in enumerate(tally):
        if n:
            out.append(f"| {edges[i]:g} – {edges[i + 1]:g} | {n:,} | {100 * ok / n:.1f}% |")
    return out


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
    parser.add_argument("--no-lingua", action="store_true", help="skip lingua (a few minutes)")
    args = parser.parse_args()
    if not os.path.exists(args.tsv):
        print(f"skipping: {args.tsv} is not here")
        return
    rows = load(args.tsv)
    binary = eval_binary()
    results = {}
    results["CLD3 (gcld3 3.0.13)"] = cld3(rows)
    if not args.no_lingua:
        results["lingua 2.1 (lingua-rs via Python), high accuracy"] = lingua(rows, False)
        results["lingua 2.1, low accuracy mode"] = lingua(rows, True)
    whatlang, rate = rust(binary, rows, args.tsv, "whatlang")
    results["whatlang 0.18 (Rust), top answer"] = ([ISO3_TO_1.get(p, p) for p in whatlang], rate)
    ours, rate = rust(binary, rows, args.tsv, "pairscope")
    results["pairscope, top answer"] = ([line.split("\t")[0] for line in ours], rate)
    results["**pairscope collect** (`und` below the margin)"] = ([line.split("\t")[2] for line in ours], rate)
    # Scored on the held-out (odd) half only; speed is over every text.
    held = [i for i, (_, _, text) in enumerate(rows) if fnv1a(text) & 1]
    all_rows = rows
    rows = [all_rows[i] for i in held]
    results = {name: ([p[i] for i in held], rate) for name, (p, rate) in results.items()}
    langs = sorted({l for l, _, _ in rows})
    lines = [
        "# Language ID of short texts",
        "",
        f"- run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, `bench/.venv/bin/python bench/langid.py`",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        f"- data: `labelled-short-texts.tsv.gz`, {len(all_rows):,} texts in {len(langs)} languages (Leipzig corpora via lingua's test set);"
        f" accuracy on the held-out half ({len(rows):,} texts whose FNV-1a hash is odd), texts/s over all of them",
        "- one thread each; accuracy = the answer equals the label (`und` counts as wrong); CLD3's `iw`, `fil`, `no` count as `he`, `tl`, `nb`",
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
    lines += ["", "## pairscope's margin on the tuning (even) half", ""] + margin_table(all_rows, ours)
    # The analysis under the marker is written by hand; a re-run keeps it.
    kept = ""
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = old[old.index(KEEP_MARKER):]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n\n" + (kept or KEEP_MARKER + "\n"))
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
