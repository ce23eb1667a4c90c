"""Drawing masks and labels on photos: analysis overlays and ground-truth previews share this code.

Masks are painted translucently, one colour family per class (buildings warm, windows cool), each
instance a slightly different shade so that neighbours stay apart. Work is done on each mask's bounding
box only. Text uses Pillow's own scalable default font (Pillow >= 10.1), sized from the photo, on a dark
translucent box, so labels stay legible on a 256 px demo image and on a 4000 px photo alike.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pycocotools import mask as mask_utils

from facade_wwr import masks
from facade_wwr.fileio import atomic_path

if TYPE_CHECKING:
    from facade_wwr.analysis import PhotoResult

#: Colour families, one per class index (window 0: cool, building 1: warm, then others).
FAMILIES: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((0, 200, 255), (40, 120, 255), (0, 255, 200), (120, 160, 255)),  # cyan / blue
    ((255, 150, 0), (255, 80, 40), (255, 210, 0), (230, 60, 120)),  # orange / red / yellow
    ((120, 220, 60), (40, 170, 90), (190, 240, 80), (80, 200, 140)),  # greens
    ((200, 80, 255), (150, 60, 200), (255, 120, 255), (120, 90, 255)),  # purples
)
WINDOW_FAMILY, BUILDING_FAMILY = 0, 1
MASK_ALPHA = 0.45
IMAGE_FORMATS = {"jpg": ("JPEG", ".jpg"), "png": ("PNG", ".png")}


def colour(family: int, index: int) -> tuple[int, int, int]:
    """The ``index``-th shade of a colour family (families repeat past the last)."""
    shades = FAMILIES[family % len(FAMILIES)]
    return shades[index % len(shades)]


def font_size(width: int, height: int, scale: float = 1.0) -> int:
    """Label size in pixels: about 2.8 % of the photo's shorter side, never below 11 px."""
    return max(11, round(0.028 * min(width, height) * scale))


def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` pixels (no download, no system font needed)."""
    return ImageFont.load_default(size=size)


def mask_box(rle: dict) -> tuple[int, int, int, int] | None:
    """Integer pixel box ``(x0, y0, x1, y1)`` (exclusive ends) of an RLE mask, from its runs; None if empty."""
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    if w <= 0 or h <= 0:
        return None
    return int(x), int(y), int(x + w), int(y + h)


def paint(
    pixels: np.ndarray,
    rle: dict,
    rgb: tuple[int, int, int],
    alpha: float = MASK_ALPHA,
    outline: int = 0,
    anchor: bool = False,
) -> tuple[int, int] | None:
    """Blend one mask into ``pixels`` (H, W, 3 uint8, in place) inside the mask's box.

    ``outline`` > 0 draws the mask's border that many pixels wide at full colour. With ``anchor``, return
    the most interior pixel ``(x, y)`` of the mask (where a label reads best), else None.
    """
    import cv2

    c = masks.crop(rle)
    if c is None:
        return None
    x0, y0, x1, y1 = c.box
    m = c.mask
    crop = pixels[y0:y1, x0:x1]
    solid = np.empty_like(crop)
    solid[:] = rgb
    np.copyto(crop, cv2.addWeighted(crop, 1.0 - alpha, solid, alpha, 0.0), where=m[..., None])
    if outline > 0 or anchor:
        padded = np.pad(m, 1).astype(np.uint8)
        if outline > 0:
            inner = cv2.erode(padded, np.ones((2 * outline + 1, 2 * outline + 1), np.uint8))[1:-1, 1:-1]
            crop[m & ~inner.astype(bool)] = np.asarray(rgb, dtype=np.uint8)
        if anchor:
            dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
            r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
            return x0 + int(c), y0 + int(r)
    return None


Box = tuple[float, float, float, float]


def label_box(
    xy: tuple[float, float], bbox: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[Box, tuple[float, float]]:
    """The box of a label of text box ``bbox`` centred on ``xy``, moved inside the image with a margin, and
    where its text starts."""
    left, top, right, bottom = bbox
    w, h = right - left, bottom - top
    pad = max(2, round(h * 0.1))
    x = min(max(xy[0] - w / 2, 2 * pad), max(size[0] - w - 2 * pad, 0))
    y = min(max(xy[1] - h / 2, 2 * pad), max(size[1] - h - 2 * pad, 0))
    return (x - pad, y - pad, x + w + pad, y + h + pad), (x - left, y - top)


def draw_label(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    size: tuple[int, int],
    taken: list[Box] | None = None,
    within: Box | None = None,
) -> None:
    """White text centred on ``xy`` over a dark translucent box, kept inside the image.

    With ``taken`` (the boxes of labels drawn before), the label moves off them: to the nearest free place a
    line height at a time up or down, then sideways, preferring places whose centre stays ``within`` (its
    building's box); its own box is added to ``taken``.
    """
    bbox = draw.multiline_textbbox((0, 0), text, font=font, align="center")
    box, origin = label_box(xy, bbox, size)
    if taken is not None:
        step_y, step_x = (box[3] - box[1]) / 2, (box[2] - box[0]) / 2

        def free(b: Box) -> bool:
            return not any(b[0] < t[2] and t[0] < b[2] and b[1] < t[3] and t[1] < b[3] for t in taken)

        def inside(b: Box) -> bool:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            return within is None or (within[0] <= cx <= within[2] and within[1] <= cy <= within[3])

        shifts = [(0.0, 0.0)] + [(0.0, s * k * step_y) for k in range(1, 9) for s in (1, -1)]
        shifts += [(s * k * step_x, j * step_y) for k in (1, 2, 3) for s in (1, -1) for j in (0, 1, -1, 2, -2)]
        candidates = [label_box((xy[0] + dx, xy[1] + dy), bbox, size) for dx, dy in shifts]
        for c in [c for c in candidates if inside(c[0])] + candidates:
            if free(c[0]):
                box, origin = c
                break
        taken.append(box)
    draw.rectangle(box, fill=(0, 0, 0, 160))
    draw.multiline_text(origin, text, fill=(255, 255, 255, 255), font=font, align="center")


def building_label(building_id: str, window_percentage: float, tagged_id: str = "") -> str:
    """What an overlay writes on a building: its ID, window percentage (in %, one decimal) and tagged ID(s)."""
    return f"{building_id}\n{100.0 * window_percentage:.1f}%" + (f"\n{tagged_id}" if tagged_id else "")


def fitting_font(draw: ImageDraw.ImageDraw, texts: Sequence[str], size: int, width: int) -> Any:
    """The font at ``size`` px, smaller where the widest text (a long tagged ID) would not fit the photo."""
    while True:
        font = load_font(size)
        widest = max((draw.multiline_textbbox((0, 0), t, font=font)[2] for t in texts), default=0)
        if widest <= 0.9 * width or size <= 6:
            return font
        size -= 1


def tagged_marks(result: PhotoResult) -> list[tuple[float, float, str]]:
    """The photo's tagged points as ``(x, y, tagged_id)``: those attached to a building with "" (their ID is in
    its label), those in no kept building with their ID."""
    marks = []
    for coords in result.table["tagged_id_coords"]:
        for yx in filter(None, str(coords).split(";")):  # "[y, x]", as the table writes them
            y, x = (float(v) for v in yx.strip("[] ").split(","))
            marks.append((x, y, ""))
    return marks + [(float(r["x"]), float(r["y"]), str(r["tagged_id"])) for r in result.unmatched]


def draw_analysis(photo: Image.Image, result: PhotoResult) -> Image.Image:
    """The photo with kept buildings and windows painted, each building labelled with its ID, window percentage
    and tagged ID, and each tagged point marked (white: attached to the building it lies in; red, with its ID:
    in no kept building).

    Buildings are painted back to front (lowest score first), windows on top of them. Labels are placed front
    to back (highest score first), each moved off the points and the labels placed before it.
    """
    pixels = np.array(photo.convert("RGB"))
    width, height = photo.size
    inst = result.instances
    outline = max(1, round(min(width, height) / 500))
    anchors: list[tuple[int, int] | None] = [None] * len(inst.building_rles)
    for i in reversed(range(len(inst.building_rles))):
        anchors[i] = paint(pixels, inst.building_rles[i], colour(BUILDING_FAMILY, i), outline=outline, anchor=True)
    for j, rle in enumerate(inst.window_rles):
        paint(pixels, rle, colour(WINDOW_FAMILY, j))
    image = Image.fromarray(pixels).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    rows = list(result.table.itertuples(index=False))
    texts = [building_label(r.id, r.window_percentage, r.tagged_id) for r in rows]
    marks = tagged_marks(result)
    size = font_size(width, height)
    font = fitting_font(draw, texts + [m[2] for m in marks], size, width)
    radius = max(2, round(size / 5))
    taken: list[Box] = []
    for x, y, tagged_id in marks:  # the points first: labels keep off them
        dot = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(dot, fill=(255, 60, 60, 255) if tagged_id else (255, 255, 255, 255), outline=(0, 0, 0, 255))
        taken.append(dot)
    for x, y, tagged_id in marks:
        if tagged_id:
            draw_label(draw, (x, y + radius + size), tagged_id, font, image.size, taken)
    for row, text, xy in zip(rows, texts, anchors):
        if xy is not None:
            draw_label(draw, xy, text, font, image.size, taken, within=(row.x0, row.y0, row.x1, row.y1))
    return Image.alpha_composite(image, layer).convert("RGB")


def draw_instances(
    photo: Image.Image,
    rles: Sequence[dict],
    class_ids: Sequence[int],
    class_names: Sequence[str],
) -> Image.Image:
    """Ground-truth preview: masks painted per class family, class names on instances they fit in, a legend.

    Larger instances are painted first so that small ones (windows) stay visible on top.
    """
    pixels = np.array(photo.convert("RGB"))
    width, height = photo.size
    outline = max(1, round(min(width, height) / 500))
    boxes = [mask_box(r) for r in rles]
    sizes = [0 if b is None else (b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    order = sorted(range(len(rles)), key=lambda k: -sizes[k])
    anchors: dict[int, tuple[int, int] | None] = {}
    for k in order:
        anchors[k] = paint(pixels, rles[k], colour(class_ids[k], k), outline=outline, anchor=True)
    image = Image.fromarray(pixels).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    small = load_font(font_size(width, height, 0.6))
    for k in order:
        box, xy = boxes[k], anchors[k]
        name = class_names[class_ids[k]] if 0 <= class_ids[k] < len(class_names) else str(class_ids[k])
        if box is None or xy is None:
            continue
        left, top, right, bottom = draw.textbbox((0, 0), name, font=small)
        if right - left <= box[2] - box[0] and bottom - top <= box[3] - box[1]:
            draw_label(draw, xy, name, small, image.size)
    return with_legend(Image.alpha_composite(image, layer).convert("RGB"), class_ids, class_names)


def with_legend(image: Image.Image, class_ids: Sequence[int], class_names: Sequence[str]) -> Image.Image:
    """The image above a dark strip holding the legend (a swatch of each class's colour family, its name and
    its instance count), so that the legend hides nothing, even on a 101 px photo."""
    counts = {c: 0 for c in range(len(class_names))}
    for c in class_ids:
        counts[c] = counts.get(c, 0) + 1
    lines = [(c, f"{class_names[c] if c < len(class_names) else c}: {n}") for c, n in sorted(counts.items())]
    font = load_font(font_size(*image.size))
    measure = ImageDraw.Draw(image)
    left, top, right, bottom = measure.textbbox((0, 0), "Ag", font=font)
    line_h = bottom - top
    pad = max(2, round(line_h * 0.3))
    width = max((measure.textbbox((0, 0), text, font=font)[2] for _, text in lines), default=0) + line_h + 3 * pad
    canvas = Image.new("RGB", (max(image.width, width), image.height + pad + len(lines) * (line_h + pad)), (0, 0, 0))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (c, text) in enumerate(lines):
        y = image.height + pad + i * (line_h + pad)
        draw.rectangle((pad, y, pad + line_h, y + line_h), fill=colour(c, 0))
        draw.text((2 * pad + line_h, y - top), text, fill=(255, 255, 255), font=font)
    return canvas


def output_path(folder: str | Path, image_name: str, fmt: str) -> Path:
    """``folder/<photo stem>.jpg`` (or ``.png``)."""
    return Path(folder) / (Path(image_name).stem + IMAGE_FORMATS[fmt][1])


def save(image: Image.Image, path: str | Path, fmt: str = "jpg") -> None:
    """Write an image atomically as JPEG (quality 90) or PNG."""
    pil_format, _ = IMAGE_FORMATS[fmt]
    with atomic_path(path) as tmp:
        image.save(tmp, format=pil_format, **({"quality": 90} if pil_format == "JPEG" else {}))


def sample_images(images: Sequence[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` images (all when ``n`` is 0 or too large), the same for the same seed, in file-name order."""
    ordered = sorted(images, key=lambda im: im["file_name"])
    if n <= 0 or n >= len(ordered):
        return ordered
    return [ordered[i] for i in sorted(random.Random(seed).sample(range(len(ordered)), n))]


def preview_image(coco_path: str | Path, coco: dict[str, Any], image: dict[str, Any]) -> Image.Image:
    """One COCO image with its annotations drawn (class families, class names, legend)."""
    from facade_wwr.coco import class_names, image_path
    from facade_wwr.errors import UserError
    from facade_wwr.images import open_image

    path = image_path(coco_path, image)
    photo = open_image(path)
    w, h = int(image["width"]), int(image["height"])
    if photo.size != (w, h):
        raise UserError(f"{path}: image is {photo.width}x{photo.height} but {coco_path} says {w}x{h}")
    anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    names = class_names(coco)
    index = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    rles = masks.annotation_rles(anns, h, w, f"{coco_path}: image {image['file_name']}")
    return draw_instances(photo, rles, [index.get(a["category_id"], -1) for a in anns], names)


def write_previews(
    coco_path: str | Path, out_dir: str | Path, n: int = 8, seed: int = 0, fmt: str = "jpg"
) -> list[Path]:
    """Draw ``n`` sampled images of a COCO file into ``out_dir/<stem>.<fmt>``; return the paths written."""
    from facade_wwr.coco import load_coco

    coco = load_coco(coco_path)
    written = []
    for image in sample_images(coco["images"], n, seed):
        path = output_path(out_dir, image["file_name"], fmt)
        save(preview_image(coco_path, coco, image), path, fmt)
        written.append(path)
    return written


# --------------------------------------------------------------------------- link overlays

#: Colours of footprint outlines in a link overlay, one per footprint in turn.
OUTLINE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (255, 60, 60),
    (60, 220, 255),
    (255, 230, 40),
    (120, 255, 90),
    (255, 120, 230),
    (255, 160, 40),
    (150, 130, 255),
    (40, 255, 190),
)


#: Buildings covering less of the photo than this are outlined in a link overlay but not labelled.
LABELLED_SHARE = 0.004


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose label differs from a 4-neighbour's."""
    edge = np.zeros(labels.shape, dtype=bool)
    diff_x = labels[:, 1:] != labels[:, :-1]
    diff_y = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= diff_x
    edge[:, :-1] |= diff_x
    edge[1:, :] |= diff_y
    edge[:-1, :] |= diff_y
    return edge


def draw_links(
    photo: Image.Image,
    footprint: np.ndarray,
    wall: np.ndarray,
    ids: Sequence[str],
    building_rles: Sequence[dict],
    building_labels: Sequence[str],
    linked: set[int],
    caption: str,
) -> Image.Image:
    """The check a user makes by eye: the rendered footprints' outlines over the photo at the final pose.

    ``footprint`` and ``wall`` are per-pixel labels of the render (-1: none; a wall number, -1 on roofs):
    each footprint is outlined in its own colour, the edges between its walls and roof in a light line.
    Kept buildings' masks are outlined in white and, when they cover at least :data:`LABELLED_SHARE` of the
    photo, labelled at their most interior pixel (``b_k -> footprint (share)``); footprints no building is
    ``linked`` to get their ID on their largest visible part, in a smaller font. ``caption`` goes top left.
    """
    import cv2

    pixels = np.array(photo.convert("RGB"))
    width, height = photo.size
    thick = max(1, round(min(width, height) / 400))
    kernel = np.ones((2 * thick + 1, 2 * thick + 1), np.uint8)
    anchors: list[tuple[int, int] | None] = []
    for r in building_rles:
        c = masks.crop(r)
        if c is None:
            anchors.append(None)
            continue
        x0, y0, x1, y1 = c.box
        padded = np.pad(c.mask, 1).astype(np.uint8)
        inner = cv2.erode(padded, np.ones((3, 3), np.uint8))[1:-1, 1:-1].astype(bool)
        pixels[y0:y1, x0:x1][c.mask & ~inner] = (255, 255, 255)
        dist = cv2.distanceTransform(padded, cv2.DIST_L2, 3)[1:-1, 1:-1]
        row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
        anchors.append((x0 + int(col), y0 + int(row)))
    seen = np.unique(footprint[footprint >= 0])
    walls = _edges(np.where(footprint >= 0, footprint * 4096 + wall + 1, -1)) & (footprint >= 0)
    pixels[walls] = (pixels[walls] * 0.4 + 255 * 0.6).astype(np.uint8)
    outline = _edges(footprint)
    for k, f in enumerate(seen):
        ring = cv2.dilate((outline & (footprint == f)).astype(np.uint8), kernel).astype(bool)
        pixels[ring] = OUTLINE_COLOURS[k % len(OUTLINE_COLOURS)]
    image = Image.fromarray(pixels).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    small = load_font(font_size(width, height, 0.6))
    for f in seen:
        if int(f) in linked:
            continue
        region = (footprint == f).astype(np.uint8)
        count, parts, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=4)
        if count < 2:
            continue
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if stats[biggest, cv2.CC_STAT_AREA] < 0.004 * width * height:
            continue
        dist = cv2.distanceTransform((parts == biggest).astype(np.uint8), cv2.DIST_L2, 3)
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
        draw_label(draw, (int(c), int(r)), ids[f] or "(no id)", small, image.size)
    font = load_font(font_size(width, height, 0.7))
    for xy, text, r in zip(anchors, building_labels, building_rles):
        if xy is not None and masks.area(r) >= LABELLED_SHARE * width * height:
            draw_label(draw, xy, text, font, image.size)
    left, top, right, bottom = draw.multiline_textbbox((0, 0), caption, font=small)
    pad = max(2, round((bottom - top) * 0.1))
    draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad), fill=(0, 0, 0, 170))
    draw.multiline_text((pad - left, pad - top), caption, fill=(255, 255, 255, 255), font=small)
    return Image.alpha_composite(image, layer).convert("RGB")
