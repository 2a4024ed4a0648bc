"""Export a training run's model for shipping: bfloat16 weights, no trainer state.

`dglsp train --out DIR` keeps float32 weights and the optimizer's state beside them (resume
needs both). A model to ship needs neither: `python -m dglsp.training.export RUN DEST`
writes config, generation config, tokenizer, training.json (provenance) and bfloat16
weights, and checks the total against a size limit (the bundled model must stay under 25 MB).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# Everything of a run folder a shipped model keeps besides the weights.
KEPT_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "training.json",
)


def export_model(run: Path, dest: Path, *, max_bytes: int | None = None) -> int:
    """Write the exported model to `dest` (replaced); returns its size in bytes."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if not (run / "config.json").is_file():
        raise SystemExit(f"{run} is not a model folder: it has no config.json")
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(run, dtype=torch.float32)
    staging = dest.with_name(dest.name + ".export-tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.to(torch.bfloat16).save_pretrained(staging)
    for name in KEPT_FILES:
        if (run / name).is_file() and not (staging / name).exists():
            shutil.copy2(run / name, staging / name)
    size = sum(path.stat().st_size for path in staging.iterdir() if path.is_file())
    if max_bytes is not None and size > max_bytes:
        shutil.rmtree(staging)
        raise SystemExit(
            f"the exported model is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB"
        )
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dglsp.training.export", description=__doc__)
    parser.add_argument("run", type=Path, help="a `dglsp train --out` folder")
    parser.add_argument("dest", type=Path, help="where to write the exported model (replaced)")
    parser.add_argument(
        "--max-mb", type=float, default=None, help="fail if the export is larger (MB, 10^6 bytes)"
    )
    args = parser.parse_args(argv)
    limit = int(args.max_mb * 1e6) if args.max_mb is not None else None
    size = export_model(args.run, args.dest, max_bytes=limit)
    print(f"{args.dest}: {size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
