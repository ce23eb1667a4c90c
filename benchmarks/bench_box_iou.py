"""The RPN's anchor matching on the CPU: torchvision's ``box_iou`` against facade-wwr's
(:mod:`facade_wwr.engines.box_iou`), at the demo model's sizes.

The demo model has 67,536 anchors on a 256x352 input (three sizes and three aspect ratios on five FPN
levels); a demo city view has a median of 17 objects and at most 67. The anchors are bfloat16, as a
bfloat16 autocast makes them. Prints milliseconds per call (best of ``--repeat``) per object count, and
whether the two matrices are equal bit for bit. Run from the project root:

    python benchmarks/bench_box_iou.py
    python benchmarks/bench_box_iou.py --threads 1 --objects 10 100 300
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from facade_wwr.engines.box_iou import box_iou

ANCHORS = 67_536


def boxes(n: int, largest: float, g: torch.Generator) -> torch.Tensor:
    x0, y0 = torch.rand(n, generator=g) * 341, torch.rand(n, generator=g) * 256
    w, h = 2 + torch.rand(n, generator=g) * largest, 2 + torch.rand(n, generator=g) * largest
    return torch.stack([x0, y0, x0 + w, y0 + h], 1)


def best_ms(f, a: torch.Tensor, b: torch.Tensor, repeat: int) -> tuple[float, torch.Tensor]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f(a, b)
        times.append(time.perf_counter() - t0)
    return 1000 * min(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--objects", type=int, nargs="+", default=[17, 67], help="objects per photo (default: 17 67)")
    p.add_argument("--repeat", type=int, default=10, help="runs of each, best kept (default: 10)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    anchors = boxes(ANCHORS, 500, g).bfloat16()
    print(f"{args.threads} thread(s), {ANCHORS:,} bfloat16 anchors")
    for n in args.objects:
        objects = boxes(n, 150, g)
        theirs_ms, theirs = best_ms(torchvision.ops.box_iou, objects, anchors, args.repeat)
        ours_ms, ours = best_ms(box_iou, objects, anchors, args.repeat)
        print(
            f"{n} objects: torchvision {theirs_ms:.1f} ms, facade-wwr {ours_ms:.1f} ms: "
            f"{theirs_ms / ours_ms:.1f}x; equal bit for bit: {torch.equal(ours, theirs)}"
        )


if __name__ == "__main__":
    main()
