"""RoIAlign on the CPU: torchvision's multi-level pooler against facade-wwr's
(:mod:`facade_wwr.engines.roi_align`), forward and backward, at the demo model's sizes.

The demo model pools 128-channel FPN levels of two 256x341 inputs: 256 sampled ROIs per image into 7x7 for
the box head and about 32 positive ones per image into 14x14 for the mask head. The boxes are drawn as a
training step's are: mostly window-sized, some building-sized. Prints milliseconds per call (best of
``--repeat``) and the largest difference between the two results. Run from the project root:

    python benchmarks/bench_roi_align.py
    python benchmarks/bench_roi_align.py --threads 1 --channels 256 --rois 512   # the R50 heads
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision

from facade_wwr.engines.roi_align import MultiScaleRoIAlign


def inputs(channels: int, rois: int, seed: int) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = {str(i): torch.randn(2, channels, 64 // 2**i, 86 // 2**i, generator=g) for i in range(4)}
    boxes = []
    for _ in range(2):
        big = torch.rand(rois, generator=g) < 0.2
        w = torch.where(big, 80 + 240 * torch.rand(rois, generator=g), 6 + 40 * torch.rand(rois, generator=g))
        h = torch.where(big, 60 + 190 * torch.rand(rois, generator=g), 8 + 50 * torch.rand(rois, generator=g))
        x0, y0 = torch.rand(rois, generator=g) * (341 - w), torch.rand(rois, generator=g) * (256 - h)
        boxes.append(torch.stack([x0, y0, x0 + w, y0 + h], 1))
    return x, boxes


def best_ms(pooler: torch.nn.Module, x: dict[str, torch.Tensor], boxes: list[torch.Tensor], repeat: int):
    shapes = [(256, 341)] * 2
    forward, backward = [], []
    for _ in range(repeat):
        leaves = {k: v.clone().requires_grad_(True) for k, v in x.items()}
        t0 = time.perf_counter()
        out = pooler(leaves, boxes, shapes)
        t1 = time.perf_counter()
        out.sum().backward()
        t2 = time.perf_counter()
        forward.append(t1 - t0)
        backward.append(t2 - t1)
    return 1000 * min(forward), 1000 * min(backward), out.detach()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--channels", type=int, default=128, help="FPN channels (default: 128, the demo model)")
    p.add_argument("--rois", type=int, default=256, help="box-head ROIs per image (default: 256)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each, best kept (default: 5)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s), {args.channels} channels, 2 images of 256x341, FPN levels 0-3")
    for head, output, rois in (("box", 7, args.rois), ("mask", 14, max(args.rois // 8, 1))):
        x, boxes = inputs(args.channels, rois, seed=output)
        names = list(x)
        tv_f, tv_b, tv_out = best_ms(torchvision.ops.MultiScaleRoIAlign(names, output, 0), x, boxes, args.repeat)
        our_f, our_b, our_out = best_ms(MultiScaleRoIAlign(names, output, 0), x, boxes, args.repeat)
        diff = float((tv_out - our_out).abs().max())
        print(
            f"{head} head, {2 * rois} ROIs -> {output}x{output}: torchvision {tv_f:.1f} + {tv_b:.1f} ms "
            f"(forward + backward), facade-wwr {our_f:.1f} + {our_b:.1f} ms: "
            f"{(tv_f + tv_b) / (our_f + our_b):.1f}x; largest difference {diff:.1e}"
        )


if __name__ == "__main__":
    main()
