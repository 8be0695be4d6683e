"""resnet18 (the ClothClassifier) training throughput on a CUDA GPU: fp32 against bf16 autocast +
channels_last, the way `fit` runs on a GPU. Synthetic batches already on the device, so this measures the
model step, not the input pipeline.

    python -m tune_clothes.benchmarks.gpu_throughput --batch-size 256 --size 224
"""
from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch
from torch import nn

from tune_clothes.training.models import ClothClassifier


def images_per_second(batch_size: int, size: int, fast: bool, steps: int, warmup: int = 5) -> float:
    torch.manual_seed(0)
    layout = torch.channels_last if fast else torch.contiguous_format
    model = ClothClassifier(num_classes=20).cuda().to(memory_format=layout)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch_size, 3, size, size, device="cuda").contiguous(memory_format=layout)
    labels = torch.randint(0, 20, (batch_size,), device="cuda")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if fast else nullcontext()
    for step in range(warmup + steps):
        if step == warmup:
            torch.cuda.synchronize()
            started = time.perf_counter()
        with autocast:
            loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run this on a GPU machine")
    torch.backends.cudnn.benchmark = True
    fp32 = images_per_second(args.batch_size, args.size, fast=False, steps=args.steps)
    fast = images_per_second(args.batch_size, args.size, fast=True, steps=args.steps)
    print(f"{torch.cuda.get_device_name()}: resnet18 at {args.size} px, batch {args.batch_size}: fp32 {fp32:,.0f} "
          f"images/s; bf16 autocast + channels_last {fast:,.0f} images/s ({fast / fp32:.2f}x)")


if __name__ == "__main__":
    main()
