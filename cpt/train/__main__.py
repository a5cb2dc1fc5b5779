"""``python -m cpt.train --config X.yaml [key.sub=value ...]``; multi-GPU: ``accelerate launch``."""

from __future__ import annotations

import argparse
import sys

from cpt.errors import run_cli


def main(argv: list[str] | None = None) -> int:
    from cpt.train.config import help_text

    parser = argparse.ArgumentParser(
        prog="python -m cpt.train",
        description="Continued pretraining of a causal LM with exact replay mixing. "
        "Multi-GPU / multi-node: accelerate launch -m cpt.train --config ...",
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="YAML recipe (see configs/)")
    parser.add_argument(
        "--print-config", action="store_true", help="print the validated configuration and exit"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key.sub=value",
        help="override any key; the value is parsed as YAML",
    )
    args = parser.parse_args(argv)
    return run_cli("cpt.train", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from cpt.train.config import load_config

    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return 0
    from cpt.train.loop import train

    result = train(cfg)
    print(
        f"done: {result.steps} steps, {result.tokens_seen} tokens; final model in "
        f"{result.final_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
