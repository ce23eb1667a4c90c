"""COCO run-length encoded (RLE) masks: the one mask format shared by every stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycocotools import mask as mask_utils


def encode(mask: np.ndarray) -> str:
    """COCO compressed RLE ``counts`` of a boolean ``(H, W)`` mask, as ``pycocotools.mask.encode`` writes it."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return rle["counts"].decode("ascii")


def encode_many(masks: np.ndarray) -> list[str]:
    """Encode an ``(N, H, W)`` boolean stack in one pycocotools call."""
    if len(masks) == 0:
        return []
    stack = np.asfortranarray(masks.astype(np.uint8, copy=False).transpose(1, 2, 0))
    return [r["counts"].decode("ascii") for r in mask_utils.encode(stack)]


def rle(counts: str, height: int, width: int) -> dict:
    """The pycocotools RLE object for ``counts`` of an ``height`` x ``width`` image."""
    return {"size": [int(height), int(width)], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode(counts: str, height: int, width: int) -> np.ndarray:
    return mask_utils.decode(rle(counts, height, width)).astype(bool)


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Rasterise COCO polygons (flat ``[x0, y0, x1, y1, ...]`` lists) into one merged compressed RLE."""
    parts = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], int(height), int(width))
    return mask_utils.merge(parts)


def area(r: dict) -> int:
    return int(mask_utils.area(r))
