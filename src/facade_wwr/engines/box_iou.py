"""Pairwise box IoU for the RPN's anchor matching: torchvision's numbers, 2-6x faster on the CPU.

The RPN matches every anchor against every object of a photo: for the demo's 256x352 input that is 67,536
anchors times up to 67 objects. torchvision's ``box_iou`` builds ``N x M x 2`` corner tensors for it and
took a sixth of a CPU training step. :func:`box_iou` computes the same formula, operation for operation (so
the same float32 bits), from the four coordinates one at a time and a few rows of the matrix at a time,
so that every intermediate stays in the CPU's cache (``benchmarks/bench_box_iou.py`` times both).
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor

#: Matrix elements computed per block on the CPU (1 MB of float32 per intermediate: they stay in cache).
BLOCK = 1 << 18


def _iou_block(boxes1: Tensor, area1: Tensor, boxes2: Tensor, area2: Tensor) -> Tensor:
    a, b = boxes1[:, None], boxes2[None, :]
    w = torch.minimum(a[..., 2], b[..., 2]).sub_(torch.maximum(a[..., 0], b[..., 0]))
    h = torch.minimum(a[..., 3], b[..., 3]).sub_(torch.maximum(a[..., 1], b[..., 1]))
    inter = w.clamp_(min=0).mul_(h.clamp_(min=0))
    return inter.div_((area1[:, None] + area2[None, :]).sub_(inter))


def _upcast(boxes: Tensor) -> Tensor:
    """Half-precision boxes in float32, as torchvision computes their areas (and so the IoU)."""
    return boxes.float() if boxes.dtype in (torch.float16, torch.bfloat16) else boxes


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of every box of ``boxes1`` (N x 4, x0 y0 x1 y1) with every box of ``boxes2`` (M x 4): N x M, equal
    to ``torchvision.ops.box_iou`` bit for bit, also for half-precision boxes, which both take in float32
    (under a bfloat16 autocast the anchors are bfloat16). Off the CPU it is torchvision's."""
    if boxes1.device.type != "cpu":
        return torchvision.ops.box_iou(boxes1, boxes2)
    boxes1, boxes2 = _upcast(boxes1), _upcast(boxes2)
    n, m = len(boxes1), len(boxes2)
    dtype = torch.promote_types(boxes1.dtype, boxes2.dtype)
    if n == 0 or m == 0:
        return boxes1.new_zeros((n, m), dtype=dtype)
    area1, area2 = torchvision.ops.box_area(boxes1), torchvision.ops.box_area(boxes2)
    rows = max(1, BLOCK // m)
    if rows >= n:
        return _iou_block(boxes1, area1, boxes2, area2)
    out = boxes1.new_empty((n, m), dtype=dtype)
    for i in range(0, n, rows):
        out[i : i + rows] = _iou_block(boxes1[i : i + rows], area1[i : i + rows], boxes2, area2)
    return out
