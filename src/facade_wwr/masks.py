"""COCO run-length encoded (RLE) masks: the one mask format shared by every stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def encode_crop(mask: np.ndarray, y0: int, x0: int, height: int, width: int) -> str:
    """:func:`encode` of a ``height`` x ``width`` mask that is empty outside the crop ``mask`` (bool
    ``(h, w)``) placed at row ``y0``, column ``x0``; the result is the same string, but the full-size mask
    is never made, so the cost follows the crop's size, not the photo's.

    The runs come from the crop's column-by-column transitions; a run that goes on from the foot of one
    column to the head of the next (only when the crop spans every row) is joined into one.
    """
    h, w = mask.shape
    if y0 < 0 or x0 < 0 or y0 + h > height or x0 + w > width:
        raise ValueError(f"a {w}x{h} crop at ({x0}, {y0}) is outside a {width}x{height} mask")
    padded = np.zeros((w, h + 2), dtype=np.int8)  # one column per row, a background cell at either end
    padded[:, 1:-1] = mask.T
    col, row = np.nonzero(np.diff(padded, axis=1))  # foreground starts and ends, alternating, in order
    edges = (x0 + col).astype(np.int64) * height + y0 + row
    joined = np.flatnonzero(edges[1:-1:2] == edges[2::2])  # an end that is also the next start
    if joined.size:
        edges = np.delete(edges, np.concatenate([2 * joined + 1, 2 * joined + 2]))
    counts = np.diff(np.concatenate(([0], edges, [height * width])))
    if counts.size > 1 and counts[-1] == 0:  # foreground up to the last pixel: no closing background run
        counts = counts[:-1]
    rle = mask_utils.frPyObjects({"counts": counts.tolist(), "size": [height, width]}, height, width)
    return rle["counts"].decode("ascii")


def rle(counts: str, height: int, width: int) -> dict:
    """The pycocotools RLE object for ``counts`` of an ``height`` x ``width`` image."""
    return {"size": [int(height), int(width)], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def decode(counts: str, height: int, width: int) -> np.ndarray:
    return mask_utils.decode(rle(counts, height, width)).astype(bool)


def polygons_to_rle(polygons: Sequence[Sequence[float]], height: int, width: int) -> dict:
    """Rasterise COCO polygons (flat ``[x0, y0, x1, y1, ...]`` lists) into one merged compressed RLE."""
    parts = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], int(height), int(width))
    return mask_utils.merge(parts)


def annotation_rles(annotations: Sequence[dict], height: int, width: int, where: str) -> list[dict]:
    """The RLEs of COCO annotations' segmentations: polygons, or RLEs (compressed or not). One that cannot be
    read is a UserError ``<where>: unreadable segmentation (...)``."""
    from facade_wwr.errors import UserError

    try:
        return [_annotation_rle(a["segmentation"], height, width) for a in annotations]
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{where}: unreadable segmentation ({e})") from None


def _annotation_rle(seg: list | dict, height: int, width: int) -> dict:
    if isinstance(seg, list):
        return polygons_to_rle(seg, height, width)
    if isinstance(seg, dict) and isinstance(seg.get("counts"), list):
        return mask_utils.frPyObjects(seg, height, width)
    return rle(seg["counts"], height, width)


def area(r: dict) -> int:
    return int(mask_utils.area(r))


def areas(rles: Sequence[dict]) -> np.ndarray:
    """Pixel counts of RLE objects (int64). pycocotools' ``area`` of a list fails on 256 or more RLEs under
    NumPy 2 (``OverflowError``), so the list is handed over in chunks."""
    out = np.zeros(len(rles), dtype=np.int64)
    for start in range(0, len(rles), 255):
        out[start : start + 255] = mask_utils.area(list(rles[start : start + 255]))
    return out


# ---------------------------------------------------------------------------------------------- crops


def runs(counts: str | bytes) -> np.ndarray:
    """Run lengths of a COCO compressed RLE string (pycocotools' ``rleFrString``, vectorised).

    Each run is a little-endian group of 5-bit digits in characters offset by 48; bit 0x20 marks "more
    digits follow", bit 0x10 of a group's last digit is its sign; from the third run on, each is stored as
    the difference to the run two before it.
    """
    codes = np.frombuffer(counts.encode("ascii") if isinstance(counts, str) else counts, dtype=np.uint8)
    codes = codes.astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    last = (codes & 0x20) == 0  # the last digit of each run
    if not last[-1]:
        raise ValueError("truncated RLE string")
    group = np.concatenate(([0], np.cumsum(last)[:-1]))  # run index of each digit
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    position = np.arange(codes.size) - starts[group]  # digit index within its run
    values = np.zeros(int(group[-1]) + 1, dtype=np.int64)
    np.add.at(values, group, (codes & 0x1F) << (5 * position))
    digits = np.bincount(group)
    negative = (codes[last] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * digits[negative])  # sign extension
    for parity in (0, 1):  # runs[i] += runs[i - 2] for i > 2: two running sums, one per parity
        first = 3 if parity else 4
        if values.size > first - 2:
            tail = values[first - 2 :: 2]
            values[first - 2 :: 2] = np.cumsum(tail)
    return values


def checked_runs(counts: str | bytes, height: int, width: int) -> np.ndarray:
    """:func:`runs`, raising ValueError unless they describe a ``height`` x ``width`` mask (pycocotools
    trusts its input: a mismatched RLE can make its ``merge`` loop forever)."""
    if not isinstance(counts, (str, bytes)):
        raise ValueError(f"RLE is {type(counts).__name__}, not a string")
    try:
        lengths = runs(counts)
    except UnicodeEncodeError:
        raise ValueError("RLE string is not ASCII") from None
    if (lengths < 0).any() or int(lengths.sum()) != height * width:
        raise ValueError(f"RLE does not describe a {width}x{height} mask")
    return lengths


@dataclass(frozen=True)
class Crop:
    """A mask's bounding-box crop and where it sits in the photo."""

    mask: np.ndarray  # bool (h, w)
    x0: int
    y0: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``, exclusive ends."""
        return self.x0, self.y0, self.x0 + self.mask.shape[1], self.y0 + self.mask.shape[0]


def decode_crop(counts: str | bytes, height: int, width: int) -> Crop | None:
    """Decode an RLE mask into its bounding-box crop only (from the runs, never the whole photo: a
    4000x3000 photo is 12 MB per instance when decoded in full); None for an empty mask.

    Raises ValueError when the runs do not add up to ``height * width``.
    """
    lengths = checked_runs(counts, height, width)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    fg = (np.arange(lengths.size) % 2 == 1) & (lengths > 0)  # runs alternate background, foreground
    if not fg.any():
        return None
    first, last = int(starts[fg][0]), int(ends[fg][-1]) - 1
    c0, c1 = first // height, last // height
    lo, hi = c0 * height, (c1 + 1) * height  # flat (column-major) range of the columns c0..c1
    s, e = np.clip(starts, lo, hi), np.clip(ends, lo, hi)
    keep = e > s
    flat = np.repeat(fg[keep], (e - s)[keep])
    cols = flat.reshape(c1 - c0 + 1, height).T
    rows = np.flatnonzero(cols.any(axis=1))
    r0, r1 = int(rows[0]), int(rows[-1])
    return Crop(np.ascontiguousarray(cols[r0 : r1 + 1]), c0, r0)


def crop(r: dict) -> Crop | None:
    """:func:`decode_crop` of a pycocotools RLE object (``{"size": [H, W], "counts": ...}``)."""
    height, width = r["size"]
    return decode_crop(r["counts"], int(height), int(width))
