"""``python -m cpt.mixture --config base.yaml``: DoReMi weights for the sources of one data side.

Trains a small reference model and a small proxy model of the same size on the recipe's sources
(``data.domain`` by default: e.g. clinical notes, papers and drug labels as separate entries), the
proxy with DoReMi's Group-DRO reweighting (``cpt.mixture.doremi``: eta 1, smoothing 1e-3), and
writes the averaged weights to ``<out>/weights.json`` and, as the ``weight`` of each source, to a
copy of the recipe ``<out>/recipe.yaml`` that trains as it is. The small model is the recipe's
``model.init`` if it has one, else ``--proxy-init``; ``--reference base`` uses the recipe's
pretrained base model (``model.path``) as the reference instead of training one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from cpt import ConfigError, CurateError

DEFAULT_PROXY = {
    "arch": "llama", "hidden_size": 128, "layers": 2, "heads": 4, "kv_heads": 2,
    "intermediate_size": 384, "max_position": 1024, "tie_word_embeddings": True,
}  # fmt: skip


def _args(argv: list[str] | None) -> argparse.Namespace:
    from cpt.mixture.doremi import DoReMiConfig

    d = DoReMiConfig()
    p = argparse.ArgumentParser(
        prog="python -m cpt.mixture", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--config", type=Path, required=True, help="the cpt.train recipe")
    p.add_argument("--side", choices=("domain", "general"), default="domain")
    p.add_argument("--out", type=Path, default=Path("runs/mixture"), help="output directory")
    p.add_argument(
        "--proxy-init",
        help="JSON model.init of the small models (default: the recipe's model.init, else "
        f"{json.dumps(DEFAULT_PROXY)} + the vocabulary)",
    )
    p.add_argument("--reference", choices=("train", "base"), default="train")
    p.add_argument("--reference-steps", type=int, default=d.reference_steps)
    p.add_argument("--proxy-steps", type=int, default=d.proxy_steps)
    p.add_argument("--seq-len", type=int, default=None, help="default: the recipe's data.seq_len")
    p.add_argument("--per-source", type=int, default=d.per_source, help="sequences per source")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p.parse_args(argv)


def _vocab_size(cfg: Any) -> int:
    if cfg.model.init is not None and cfg.model.init.vocab_size:
        return int(cfg.model.init.vocab_size)
    cfg_file = Path(cfg.model.path or "") / "config.json"
    if not cfg_file.is_file():
        raise ConfigError(f"model.path {cfg.model.path}: no config.json to read vocab_size from")
    return int(json.loads(cfg_file.read_text(encoding="utf-8"))["vocab_size"])


def proxy_model_config(init: dict[str, Any], where: str = "model.init") -> Any:
    """A ``ModelConfig`` for a fresh small model from ``model.init`` keys (checked like the
    trainer's config: an unknown key names itself and the known ones)."""
    from cpt.config import build
    from cpt.train.config import InitConfig, ModelConfig

    return ModelConfig(init=build(InitConfig, init, where))


def _proxy_init(args: argparse.Namespace, cfg: Any) -> tuple[dict[str, Any], str]:
    """The small models' ``model.init`` as plain keys (recorded in weights.json) and where they
    came from (for error messages)."""
    import dataclasses

    if args.proxy_init:
        try:
            init = json.loads(args.proxy_init)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--proxy-init: not JSON ({exc})") from None
        if not isinstance(init, dict):
            raise ConfigError("--proxy-init: expected a JSON object")
        where = "--proxy-init"
    elif cfg.model.init is not None:
        init = {k: v for k, v in dataclasses.asdict(cfg.model.init).items() if v is not None}
        if not init.get("extra"):
            init.pop("extra", None)
        where = "model.init"
    else:
        init = dict(DEFAULT_PROXY)
        where = "the default proxy"
    init.setdefault("vocab_size", _vocab_size(cfg))
    return init, where


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        import yaml

        from cpt.data.sources import open_source
        from cpt.evaluate.report import atomic_write_text
        from cpt.mixture.doremi import DoReMiConfig, doremi
        from cpt.train.config import load_config
        from cpt.train.model import build_model

        cfg = load_config(args.config, [])
        specs = getattr(cfg.data, args.side)
        if len(specs) < 2:
            raise ConfigError(
                f"config key 'data.{args.side}': DoReMi needs at least two sources, "
                f"the recipe has {len(specs)}"
            )
        sources = [open_source(s.path, s.format, s.dtype, s.name) for s in specs]
        init, where = _proxy_init(args, cfg)
        small = proxy_model_config(init, where)
        reference = None
        if args.reference == "base":
            if cfg.model.path is None:
                raise ConfigError("--reference base: the recipe has no model.path (a base model)")
            reference = build_model(cfg.model)
        dcfg = DoReMiConfig(
            reference_steps=args.reference_steps, proxy_steps=args.proxy_steps,
            seq_len=args.seq_len or cfg.data.seq_len, per_source=args.per_source, lr=args.lr,
            seed=args.seed, threads=args.threads,
        )  # fmt: skip
        result = doremi(lambda: build_model(small), sources, dcfg, reference=reference)
        args.out.mkdir(parents=True, exist_ok=True)
        record = {
            **result.as_dict(),
            "side": args.side,
            "sources": {s.name: s.path for s in specs},
            "reference": args.reference,
            "proxy_init": init,
            "config": {k: v for k, v in vars(dcfg).items()},
        }
        tmp = args.out / f".weights.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(args.out / "weights.json")
        overrides = [f"data.{args.side}.{i}.weight={w:.6g}" for i, w in enumerate(result.weights)]
        recipe = load_config(args.config, overrides).to_dict()
        head = (
            f"# data.{args.side} weights from DoReMi (cpt.mixture, {args.out / 'weights.json'})\n"
        )
        atomic_write_text(args.out / "recipe.yaml", head + yaml.safe_dump(recipe, sort_keys=False))
        for name, w in zip(result.names, result.weights):
            print(f"{name:>24}: {w:.4f}")
        print(f"[cpt.mixture] {args.out / 'weights.json'}; recipe {args.out / 'recipe.yaml'}")
    except (CurateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
