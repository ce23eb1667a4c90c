"""Outlines: VIA polygons to pixel masks and back, by the one rule via2coco rasterises with.

The rule (via2coco, the demos and pre-annotation all follow it): a VIA vertex ``v`` becomes the COCO
coordinate ``v + 0.5`` (pixel centres at ``i + 0.5``), the polygon is cut at the image border, coordinates
are rounded to 2 decimals, and pycocotools rasterises the result half-open: a pixel whose centre lies on a
left/top edge is left out, one on a right/bottom edge is kept.

The way back (why tracing is exact): integer VIA vertices land on pixel centres, so a mask's boundary is
traced on pixel *corners* (the exact outline of the pixel squares) and each corner ``c`` is written as
``v = c - 1``. The outline, shifted half a pixel up-left, then runs through the centres of the outside pixels
on the left/top and of the inside pixels on the right/bottom, and the half-open rule puts every pixel back
where it was. (Writing the contour of boundary-pixel centres instead loses about one row and one column per
mask: median window IoU 0.94 instead of 1.0 on the real val set.) Edge midpoints, which the tracer emits
where it cuts a concave corner, are rounded up. Vertices are clipped to the image, so a mask touching the
left or top border loses that one column or row.
"""

from __future__ import annotations

import cv2
import numpy as np

from facade_wwr import masks

#: VIA polygon vertices ``(all_points_x, all_points_y)``.
Polygon = tuple[list[float], list[float]]


# ---------------------------------------------------------------------------------------------- polygon -> mask


def coco_points(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> tuple[list[float], bool]:
    """VIA vertices as via2coco writes them into COCO: shifted to pixel centres, cut at the image border,
    rounded; returns the flat list (empty when nothing is left) and whether any vertex lay outside."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    # VIA puts a click on the photo's right or bottom edge at x = W or y = H: inside, not worth a warning,
    # and clamping its half-pixel shift back to the border is all it needs.
    outside = bool((xs < 0).any() or (ys < 0).any() or (xs > width).any() or (ys > height).any())
    points = np.stack([xs + 0.5, ys + 0.5], axis=1)
    if outside:
        points = _clip_to_rectangle(points, float(width), float(height))
    else:
        points = np.clip(points, 0.0, [float(width), float(height)])
    return np.round(points.ravel(), 2).tolist(), outside


def _clip_to_rectangle(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """The polygon's part inside [0, width] x [0, height] (Sutherland-Hodgman, one border at a time).
    Clamping each vertex instead would move whole edges: a vertex far outside drags its neighbours' edges
    along the border and cuts off part of the building that lies inside."""
    for axis, bound, keep in ((0, 0.0, 1), (0, width, -1), (1, 0.0, 1), (1, height, -1)):
        if len(points) == 0:
            break
        inside = keep * (points[:, axis] - bound) >= 0
        kept = []
        for i in range(len(points)):
            prev, cur = points[i - 1], points[i]
            if inside[i] != inside[i - 1]:  # the edge crosses the border: keep the crossing
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                kept.append(prev + t * (cur - prev))
            if inside[i]:
                kept.append(cur)
        points = np.array(kept).reshape(-1, 2)
    return points


def rasterise(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> dict:
    """The RLE mask via2coco makes of a VIA polygon (empty where nothing of it is inside the image)."""
    flat, _ = coco_points(xs, ys, width, height)
    if len(flat) < 6:  # pycocotools would read 4 numbers as a box
        return masks.rle(masks.encode(np.zeros((height, width), dtype=bool)), height, width)
    return masks.polygons_to_rle([flat], height, width)


def polygon_mask(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """The boolean mask via2coco makes of a VIA polygon."""
    rle = rasterise(np.asarray(polygon[0]), np.asarray(polygon[1]), width, height)
    return masks.decode(rle["counts"], height, width) if masks.area(rle) else np.zeros((height, width), dtype=bool)


# ---------------------------------------------------------------------------------------------- mask -> polygon


def corner_outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Outer outlines of the mask's 8-connected parts, on pixel corners, as float32 (n, 2) in crop coordinates.

    Each pixel's closed square is drawn on a grid of double resolution (corners at even indices), so
    OpenCV's contour follower walks the exact outline of the squares, not the centres of the boundary
    pixels. Coordinates are halved back: corner ``(x, y)`` is the top-left corner of pixel ``(x, y)``.
    """
    h, w = mask.shape
    grid = np.zeros((2 * h + 3, 2 * w + 3), np.uint8)  # one blank cell of margin around the outline
    grid[2 : 2 * h + 2 : 2, 2 : 2 * w + 2 : 2] = mask
    grid = cv2.dilate(grid, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(grid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [(c.reshape(-1, 2).astype(np.float32) - 1.0) / 2.0 for c in contours]


def polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def simplify(outline: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker within ``tolerance`` pixels (OpenCV ``approxPolyDP``); 0 keeps every corner."""
    if tolerance <= 0 or len(outline) <= 3:
        return outline
    return cv2.approxPolyDP(outline.reshape(-1, 1, 2), float(tolerance), True).reshape(-1, 2)


def via_vertices(outline: np.ndarray, x0: int, y0: int, width: int, height: int) -> np.ndarray:
    """Corner outline (crop coordinates, crop at ``(x0, y0)``) -> integer VIA vertices in the photo.

    ``ceil(c - 1)`` is ``c - 1`` on corners and rounds edge midpoints up; repeated vertices that
    rounding or clipping create are dropped.
    """
    v = np.ceil(outline.astype(np.float64) - 1.0 - 1e-9).astype(np.int64) + np.array([x0, y0])
    v[:, 0] = np.clip(v[:, 0], 0, width)
    v[:, 1] = np.clip(v[:, 1], 0, height)
    keep = np.any(v != np.roll(v, 1, axis=0), axis=1)
    if not keep.any():
        return v[:1]
    return v[keep]


def rectangle(x0: int, y0: int, x1: int, y1: int) -> Polygon:
    """The VIA polygon of the pixels ``[x0, x1) x [y0, y1)``."""
    xs, ys = [x0 - 1, x1 - 1], [y0 - 1, y1 - 1]
    return [xs[0], xs[1], xs[1], xs[0]], [ys[0], ys[0], ys[1], ys[1]]


def trace_polygon(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> Polygon | None:
    """The VIA polygon of a mask that is one 4-connected part without holes, checked to rasterise back into
    exactly ``mask``; None for any other mask. ``offset`` ``(x, y)`` places a crop in its photo.

    The check runs on the mask's bounding box with a blank margin, so it costs little, and equals the check
    on the whole photo wherever the mask keeps off the photo's first row and column (vertices are not
    clipped there).
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = np.pad(mask[y0:y1, x0:x1].astype(np.uint8), 1)
    if cv2.connectedComponents(crop, connectivity=4)[0] != 2:
        return None
    outlines = corner_outlines(crop)
    if len(outlines) != 1:
        return None
    local = via_vertices(outlines[0], 0, 0, crop.shape[1], crop.shape[0])
    if len(local) < 3 or not np.array_equal(
        polygon_mask((local[:, 0], local[:, 1]), *crop.shape), crop.astype(bool)
    ):  # a hole, or a shape the half-open rule cannot give back
        return None
    dx, dy = offset[0] + x0 - 1, offset[1] + y0 - 1
    return (local[:, 0] + dx).tolist(), (local[:, 1] + dy).tolist()
