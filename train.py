"""Fine-tune a careerpath model: parse config -> build -> fit -> evaluate -> save.

    python train.py --config configs/tiny_t5.yaml --train.epochs 3
    accelerate launch --config_file configs/accelerate/single_gpu.yaml train.py --config configs/flan_t5_base_lora.yaml
    torchrun --nproc_per_node 2 train.py --config configs/tiny_t5.yaml    # 2 CPU processes (gloo)

The same as ``careerpath train`` (careerpath/app/cli.py: ``train_main``), with the same flags, logging
(-v/-q), errors (one line, exit 2) and ``--json``. Run ``python train.py --help`` for every config field.
"""

from __future__ import annotations

import sys

from careerpath.app.cli import main as careerpath


def main(argv: list[str] | None = None) -> int:
    return careerpath(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
