"""Per-image prediction files: the contract between the engines and analysis (see docs/design.md).

``<stem>.parquet`` holds one row per instance, sorted by score descending, masks as COCO compressed
RLE ``counts`` of the full-image mask; key-value metadata carries ``image_width``, ``image_height``,
``engine`` and ``model``. ``<stem>.npz`` (optional) holds the same masks densely, bit-packed.
Nothing here uses pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from facade_wwr.errors import UserError, Warnings, first_line
from facade_wwr.fileio import atomic_path

SCHEMA = pa.schema(
    [
        ("image", pa.string()),
        ("instance", pa.int32()),
        ("category", pa.string()),
        ("category_id", pa.int32()),
        ("score", pa.float32()),
        ("x0", pa.float32()),
        ("y0", pa.float32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("mask_area", pa.int64()),
        ("mask_rle", pa.string()),
    ]
)
COLUMNS = SCHEMA.names
METADATA_KEYS = ("image_width", "image_height", "engine", "model")
#: How far (pixels) a box may reach beyond the photo's edges: rounding, not a box of another photo.
BOX_TOLERANCE = 1.0


@dataclass(frozen=True)
class Predictions:
    """One image's instances, as read back from a prediction file."""

    table: pd.DataFrame
    image: str
    width: int
    height: int
    engine: str
    model: str


def make_table(
    image: str,
    categories: Sequence[str],
    category_ids: Sequence[int],
    scores: Sequence[float],
    boxes: np.ndarray,
    rles: Sequence[str],
    areas: Sequence[int],
) -> pd.DataFrame:
    """Build a contract-shaped table, sorted by score descending with instances renumbered 0..N-1."""
    n = len(scores)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(n, 4)
    df = pd.DataFrame(
        {
            "image": pd.Series([image] * n, dtype=object),
            "instance": np.zeros(n, dtype=np.int32),
            "category": pd.Series(list(categories), dtype=object),
            "category_id": np.asarray(category_ids, dtype=np.int32),
            "score": np.asarray(scores, dtype=np.float32),
            "x0": boxes[:, 0],
            "y0": boxes[:, 1],
            "x1": boxes[:, 2],
            "y1": boxes[:, 3],
            "mask_area": np.asarray(areas, dtype=np.int64),
            "mask_rle": pd.Series(list(rles), dtype=object),
        }
    )
    order = np.argsort(-df["score"].to_numpy(), kind="stable")
    df = df.iloc[order].reset_index(drop=True)
    df["instance"] = np.arange(n, dtype=np.int32)
    return df


def write(
    path: str | Path,
    table: pd.DataFrame,
    image: str,
    width: int,
    height: int,
    engine: str,
    model: str,
    dense_masks: np.ndarray | None = None,
) -> None:
    """Write ``<stem>.parquet`` atomically, and ``<stem>.npz`` beside it when ``dense_masks`` is given.

    ``image`` (the photo's file name) is also stored as metadata, so that a file with no instances
    still names its photo. ``dense_masks`` must be a boolean ``(N, H, W)`` array in the table's row order.
    """
    path = Path(path)
    arrow = pa.Table.from_pandas(table[COLUMNS], schema=SCHEMA, preserve_index=False)
    meta = {
        "image": image,
        "image_width": str(int(width)),
        "image_height": str(int(height)),
        "engine": engine,
        "model": model,
    }
    arrow = arrow.replace_schema_metadata({k.encode(): v.encode() for k, v in meta.items()})
    if dense_masks is not None:
        if dense_masks.shape != (len(table), height, width):
            raise ValueError(f"dense masks of shape {dense_masks.shape} for {len(table)} instances of {width}x{height}")
        with atomic_path(path.with_suffix(".npz")) as tmp:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f,
                    masks=np.packbits(dense_masks.astype(bool), axis=-1),
                    height=np.int64(height),
                    width=np.int64(width),
                )
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def files(arguments: list[str], warnings: Warnings) -> list[Path]:
    """Files as given, folders expanded to their ``*.parquet`` files by name, leaving out hidden ones (the
    temporary file of a write that was killed). A folder with none (a shard whose photos were all
    unreadable) is a warning: its photos have no buildings to report."""
    found: list[Path] = []
    for arg in map(Path, arguments):
        if arg.is_dir():
            inside = sorted(p for p in arg.glob("*.parquet") if not p.name.startswith("."))
            if not inside:
                warnings.warn(f"{arg}: no prediction files in this folder")
            found.extend(inside)
        else:
            found.append(arg)
    return found


def model_of(path: str | Path) -> str:
    """The ``model`` metadata of a prediction file, read from its footer alone (``?`` where it has none)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError):
        return "?"
    return meta.get(b"model", b"?").decode()


def plain_file_name(name: str) -> bool:
    """Whether ``name`` is a file name that stays inside a folder: not empty, ``.`` or ``..``, no separator."""
    return name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def check_rows(path: str | Path, arrow: pa.Table, meta_image: str | None, width: int, height: int) -> None:
    """Check a file's rows against the contract, vectorised; the first faulty row is a one-line UserError.

    Scores finite in [0, 1] and non-increasing; ``instance`` 0..N-1 in row order; boxes finite, x0 <= x1,
    y0 <= y1, inside the photo up to :data:`BOX_TOLERANCE` pixels; ``image`` one plain file name in every row,
    the metadata's when it names one. ``arrow`` has the columns of :data:`SCHEMA`, without nulls."""
    n = arrow.num_rows
    if n == 0:
        return
    faults: list[tuple[int, str]] = []

    def first(bad: np.ndarray, offset: int, describe) -> None:
        if bad.any():
            row = int(np.argmax(bad)) + offset
            faults.append((row, describe(row)))

    image = arrow.column("image")
    distinct = image.unique().to_pylist()
    reference = meta_image if meta_image is not None else image[0].as_py()
    if distinct != [reference] or not plain_file_name(reference):  # else (the usual file) every row is fine
        names = image.to_numpy()
        for name in distinct:
            if not plain_file_name(name):
                first(names == name, 0, lambda i: f"image {names[i]!r} is not a plain file name")
                break
        if meta_image is not None:
            first(names != meta_image, 0, lambda i: f"image {names[i]!r} differs from the metadata's {meta_image!r}")
        else:
            first(names != names[0], 0, lambda i: f"image {names[i]!r} differs from row 0's {names[0]!r}")
    score = arrow.column("score").to_numpy()
    first(~((score >= 0) & (score <= 1)), 0, lambda i: f"score {score[i]!s} is not a number in [0, 1]")
    first(
        score[1:] > score[:-1],
        1,
        lambda i: (
            f"score {score[i]!s} is above the previous row's {score[i - 1]!s} "
            "(rows must be sorted by score, highest first)"
        ),
    )
    instance = arrow.column("instance").to_numpy()
    first(
        instance != np.arange(n),
        0,
        lambda i: f"instance {instance[i]}, expected {i} (instances are numbered 0..N-1 in row order)",
    )
    box = np.stack([arrow.column(c).to_numpy() for c in ("x0", "y0", "x1", "y1")], axis=1)

    def shown(i: int) -> str:
        return f"box ({', '.join(str(v) for v in box[i])})"

    first(~np.isfinite(box).all(axis=1), 0, lambda i: f"{shown(i)} is not finite")
    first((box[:, 0] > box[:, 2]) | (box[:, 1] > box[:, 3]), 0, lambda i: f"{shown(i)} has x0 > x1 or y0 > y1")
    low, high = -BOX_TOLERANCE, np.array([width, height, width, height]) + BOX_TOLERANCE
    first(((box < low) | (box > high)).any(axis=1), 0, lambda i: f"{shown(i)} lies outside the {width}x{height} photo")
    if faults:
        row, message = min(faults, key=lambda f: f[0])
        raise UserError(f"{path}: row {row}: {message}")


def read(path: str | Path) -> Predictions:
    """Read a prediction file, checking its columns, metadata and rows (the contract: see :func:`check_rows`);
    a bad file is a one-line UserError naming the file and the row of the first fault."""
    try:
        arrow = pq.read_table(path)
    except FileNotFoundError:
        raise UserError(f"{path}: prediction file not found") from None
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{path}: not a readable Parquet prediction file ({first_line(e)})") from None
    twice = sorted({c for c in arrow.column_names if arrow.column_names.count(c) > 1})
    if twice:
        raise UserError(f"{path}: not a facade-wwr prediction file (column {twice[0]} appears twice)")
    missing = [c for c in COLUMNS if c not in arrow.column_names]
    meta = {k.decode(): v.decode() for k, v in (arrow.schema.metadata or {}).items()}
    absent = [k for k in METADATA_KEYS if k not in meta]
    if missing or absent:
        raise UserError(f"{path}: not a facade-wwr prediction file (missing {', '.join(missing + absent)})")
    size = {}
    for key in ("image_width", "image_height"):
        if not (meta[key].isascii() and meta[key].isdecimal()) or int(meta[key]) == 0:
            raise UserError(f"{path}: {key} {meta[key]!r} is not a positive whole number of pixels")
        size[key] = int(meta[key])
    for name in COLUMNS:
        column = arrow.column(name)
        if column.type != SCHEMA.field(name).type:
            raise UserError(f"{path}: column {name} is {column.type}, expected {SCHEMA.field(name).type}")
        if column.null_count:
            row = int(np.argmax(column.is_null().to_numpy()))
            raise UserError(f"{path}: row {row}: {name} is missing")
    if "image" in meta and not plain_file_name(meta["image"]):
        raise UserError(f"{path}: image {meta['image']!r} in the metadata is not a plain file name")
    arrow = arrow.select(COLUMNS)
    check_rows(path, arrow, meta.get("image"), size["image_width"], size["image_height"])
    table = arrow.to_pandas()
    image = meta.get("image", str(table["image"].iloc[0]) if len(table) else Path(path).stem)
    return Predictions(
        table=table,
        image=image,
        width=size["image_width"],
        height=size["image_height"],
        engine=meta["engine"],
        model=meta["model"],
    )


def photo_of(pred: Predictions, photos: str | Path, source: str | Path):
    """The photo a prediction file was made from, found in the folder ``photos`` and decoded (RGB, EXIF
    orientation applied): ``(path, PIL image)``. A missing photo, or one of another size than the file
    says it was predicted on, is a one-line UserError naming both files."""
    from facade_wwr.images import open_image, safe_image_path

    path = safe_image_path(photos, pred.image, str(source))
    if not path.is_file():
        raise UserError(f"{source}: photo {pred.image} not found in {photos}")
    photo = open_image(path)
    if photo.size != (pred.width, pred.height):
        raise UserError(
            f"{path}: photo is {photo.width}x{photo.height} but {source} was predicted on {pred.width}x{pred.height}"
        )
    return path, photo


def read_dense(path: str | Path) -> np.ndarray:
    """Masks from an ``.npz`` side-car as a boolean ``(N, H, W)`` array."""
    with np.load(path, allow_pickle=False) as z:
        height, width = int(z["height"]), int(z["width"])
        return np.unpackbits(z["masks"], axis=-1, count=width).astype(bool).reshape(-1, height, width)


def from_coco(coco: dict, image_id: int, score: float = 1.0, source: str = "COCO file") -> pd.DataFrame:
    """A prediction table made from a COCO image's annotations (score ``score`` for all); ``source`` names the
    COCO file in errors.

    Used to test analysis and evaluation on ground truth, and as their control. Rows keep the
    annotation order (stable sort on equal scores).
    """
    from facade_wwr import masks

    image = next(i for i in coco["images"] if i["id"] == image_id)
    h, w = int(image["height"]), int(image["width"])
    names = {c["id"]: c["name"] for c in coco["categories"]}
    anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
    rles = masks.annotation_rles(anns, h, w, f"{source}: image {image['file_name']}")
    boxes = np.array(
        [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns],
        dtype=np.float32,
    ).reshape(-1, 4)
    return make_table(
        image["file_name"],
        [names[a["category_id"]] for a in anns],
        [a["category_id"] for a in anns],
        [score] * len(anns),
        boxes,
        [r["counts"].decode("ascii") for r in rles],
        masks.areas(rles).tolist(),
    )
