"""RoIAlign over FPN levels as one weighted embedding-bag sum: the same numbers as torchvision's, faster on
the CPU.

torchvision's CPU ``roi_align`` backward walks every (ROI, channel, bin) alone and recomputes the bilinear
weights for each channel; on 2 cores it was 30 % of a demo training step (``benchmarks/bench_roi_align.py``).
Each output bin of RoIAlign is a weighted sum of feature-map rows: its sampling points' four bilinear
neighbours, each weighted by the bilinear weight over the number of points. Laid out channel-last, all FPN
levels of all images form one table of rows, and ``torch.nn.functional.embedding_bag`` (sum mode, per-sample
weights) computes every bin at once; its backward is one vectorised scatter of whole rows.

:class:`MultiScaleRoIAlign` is torchvision's pooler (same level mapping, same scales, ``aligned=False``,
``sampling_ratio`` 0 for adaptive) with this path on the CPU and torchvision's kernels elsewhere. It holds
no parameters, so checkpoints do not change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor
from torchvision.ops import poolers


def roi_align_rows(
    features: list[Tensor], scales: list[float], rois: Tensor, levels: Tensor, output: tuple[int, int], ratio: int
) -> Tensor:
    """RoIAlign (``aligned=False``) of ``rois`` (K x 5: image, x0, y0, x1, y1 in input pixels), ROI ``k`` on
    FPN level ``levels[k]`` of ``features`` (each N x C x H x W), ``ratio`` sampling points per bin side
    (0: ``ceil(bin size)``, as torchvision). Returns K x C x output[0] x output[1] in float32."""
    dtype, device = torch.float32, rois.device
    channels = features[0].shape[1]
    if len(rois) == 0:
        return features[0].new_zeros((0, channels, *output), dtype=dtype)
    table = torch.cat([f.float().permute(0, 2, 3, 1).reshape(-1, channels) for f in features])
    with torch.no_grad():
        heights = torch.tensor([f.shape[2] for f in features], device=device)
        widths = torch.tensor([f.shape[3] for f in features], device=device)
        first_row = torch.cumsum(torch.tensor([0] + [f[:, 0].numel() for f in features[:-1]]), 0).to(device)
        scale = torch.tensor(scales, dtype=dtype, device=device)[levels]
        h, w = heights[levels], widths[levels]
        box = rois[:, 1:].to(dtype) * scale[:, None]
        ph, pw = output
        roi_w = (box[:, 2] - box[:, 0]).clamp(min=1.0)
        roi_h = (box[:, 3] - box[:, 1]).clamp(min=1.0)
        if ratio > 0:
            grid_h = grid_w = torch.full_like(levels, ratio)
        else:
            grid_h, grid_w = torch.ceil(roi_h / ph).long(), torch.ceil(roi_w / pw).long()
        points = grid_h * grid_w  # sampling points per bin of each ROI
        # one entry per (ROI, bin, sampling point), in that order: the bags of embedding_bag are the bins
        roi = torch.repeat_interleave(torch.arange(len(rois), device=device), points * ph * pw)
        within = torch.arange(len(roi), device=device) - (torch.cumsum(points * ph * pw, 0) - points * ph * pw)[roi]
        bin_, point = within // points[roi], within % points[roi]
        gh, gw = grid_h[roi], grid_w[roi]
        y = box[roi, 1] + (bin_ // pw) * (roi_h / ph)[roi] + (point // gw + 0.5) * (roi_h / ph)[roi] / gh
        x = box[roi, 0] + (bin_ % pw) * (roi_w / pw)[roi] + (point % gw + 0.5) * (roi_w / pw)[roi] / gw
        hh, ww = h[roi], w[roi]
        inside = (y >= -1.0) & (y <= hh) & (x >= -1.0) & (x <= ww)  # torchvision: outside counts as zero
        y, x = y.clamp(min=0.0), x.clamp(min=0.0)
        y0 = torch.minimum(y.long(), hh - 1)
        x0 = torch.minimum(x.long(), ww - 1)
        y = torch.where(y0 >= hh - 1, y0.to(dtype), y)
        x = torch.where(x0 >= ww - 1, x0.to(dtype), x)
        y1, x1 = torch.minimum(y0 + 1, hh - 1), torch.minimum(x0 + 1, ww - 1)
        ly, lx = y - y0, x - x0
        base = first_row[levels][roi] + rois[roi, 0].long() * hh * ww
        rows = torch.stack([y0 * ww + x0, y0 * ww + x1, y1 * ww + x0, y1 * ww + x1], 1) + base[:, None]
        weight = torch.stack([(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx], 1)
        weight = weight * (inside.to(dtype) / points[roi].to(dtype))[:, None]
        bag = (4 * points).repeat_interleave(ph * pw)
        offsets = torch.cumsum(bag, 0) - bag
    with torch.autocast(device.type, enabled=False):
        pooled = F.embedding_bag(rows.reshape(-1), table, offsets, mode="sum", per_sample_weights=weight.reshape(-1))
    return pooled.reshape(len(rois), ph, pw, channels).permute(0, 3, 1, 2)


class MultiScaleRoIAlign(torchvision.ops.MultiScaleRoIAlign):
    """torchvision's multi-level RoIAlign, computed by :func:`roi_align_rows` on the CPU."""

    def forward(self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]) -> Tensor:
        features = poolers._filter_input(x, self.featmap_names)
        if features[0].device.type != "cpu" or torchvision._is_tracing():
            return super().forward(x, boxes, image_shapes)
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = poolers._setup_scales(
                features, image_shapes, self.canonical_scale, self.canonical_level
            )
        rois = poolers._convert_to_roi_format(boxes)
        levels = self.map_levels(boxes) if len(features) > 1 else torch.zeros(len(rois), dtype=torch.int64)
        pooled = roi_align_rows(features, self.scales, rois, levels, self.output_size, self.sampling_ratio)
        return pooled.to(features[0].dtype)  # as torchvision: the dtype of the first level
