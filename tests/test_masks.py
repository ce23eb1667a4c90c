"""RLE helpers of facade_wwr.masks against pycocotools on full-size masks."""

from __future__ import annotations

import numpy as np
import pytest

from facade_wwr import masks


def _full(mask: np.ndarray, y0: int, x0: int, height: int, width: int) -> np.ndarray:
    full = np.zeros((height, width), dtype=bool)
    full[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] = mask
    return full


CASES = [  # (crop height, width, row, column) in a 7 x 9 mask; the crop is filled at random below
    (7, 9, 0, 0),  # the whole mask: runs joined across columns
    (7, 3, 0, 6),  # every row, up to the last column: foreground may end on the last pixel
    (1, 1, 0, 0),
    (1, 1, 6, 8),
    (3, 4, 2, 3),
    (7, 1, 0, 4),
    (0, 0, 3, 3),  # an empty crop
]


@pytest.mark.parametrize(("h", "w", "y0", "x0"), CASES)
def test_encode_crop_equals_encoding_the_full_mask(h: int, w: int, y0: int, x0: int) -> None:
    rng = np.random.default_rng(h * 100 + w * 10 + y0 + x0)
    for fill in (0.0, 0.3, 0.8, 1.0):
        crop = rng.random((h, w)) < fill
        full = _full(crop, y0, x0, 7, 9)
        assert masks.encode_crop(crop, y0, x0, 7, 9) == masks.encode(full)


def test_encode_crop_on_random_boxes_of_a_photo() -> None:
    """Blobs of every size at every place, photo edges included; decoding gives the mask back."""
    rng = np.random.default_rng(0)
    height, width = 120, 160
    for _ in range(300):
        h, w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        y0, x0 = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        yy, xx = np.mgrid[0:h, 0:w]
        crop = (yy - h / 2) ** 2 / (h / 2 + 0.5) ** 2 + (xx - w / 2) ** 2 / (w / 2 + 0.5) ** 2 < rng.uniform(0.3, 1.5)
        counts = masks.encode_crop(crop, y0, x0, height, width)
        full = _full(crop, y0, x0, height, width)
        assert counts == masks.encode(full)
        assert np.array_equal(masks.decode(counts, height, width), full)


def test_encode_crop_refuses_a_crop_outside_the_mask() -> None:
    with pytest.raises(ValueError, match="outside"):
        masks.encode_crop(np.ones((3, 3), dtype=bool), 5, 0, 7, 9)
