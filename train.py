"""Fine-tune a careerpath model: parse config -> build -> fit -> evaluate -> save.

    python train.py --config configs/tiny_t5.yaml --train.epochs 3
    accelerate launch --config_file configs/accelerate/single_gpu.yaml train.py --config configs/flan_t5_base_lora.yaml
    torchrun --nproc_per_node 2 train.py --config configs/tiny_t5.yaml    # 2 CPU processes (gloo)

Run ``python train.py --help`` for every config field.
"""

from __future__ import annotations

import logging
import sys

from careerpath.config import ConfigError, load_config
from careerpath.training import run_training


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(argv)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    out_dir = run_training(cfg)
    print(f"model written to {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
