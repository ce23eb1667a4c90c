"""Batched prediction: photos decoded in background threads, one network pass per batch, each mask pasted
inside its box and stored as the COCO RLE of the full photo in per-photo prediction files.

Why this shape: decoding a 1920x1080 JPEG costs tens of milliseconds that the network should not wait for
(threads suffice: Pillow releases the GIL while decoding); and pasting every instance as a full-image
float mask, as torchvision's own post-processing does, would hold 300 x H x W floats per photo, so masks
stay at the mask head's 28 x 28 until each is pasted into its box, thresholded, and run-length encoded
from that box alone (the full-size mask is never made).

Scores are then discounted for what a mask repeats (:func:`piece_scores`): the network often finds a
wall both whole and in vertical strips, and box NMS keeps the strips, whose boxes overlap the whole one
little, although their masks lie inside it.
"""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils

from facade_wwr import checkpoints, predictions
from facade_wwr import masks as rle_masks
from facade_wwr.device import amp_active, autocast, pick_device
from facade_wwr.engines import Engine, RawDetections, get_engine
from facade_wwr.errors import UserError, Warnings, first_line
from facade_wwr.images import load_for_model
from facade_wwr.progress import format_eta
from facade_wwr.settings import ModelSettings, TrainSettings, from_dict


@dataclass
class Photo:
    """A decoded, resized photo ready for the network (or the error that stopped it)."""

    path: Path
    tensor: torch.Tensor | None  # (3, h, w) uint8
    width: int
    height: int
    error: str = ""


@dataclass
class EncodedInstances:
    """One photo's instances, masks already encoded (``dense`` only when asked for)."""

    boxes: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray
    rles: list[str]
    areas: list[int]
    dense: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------- loading photos


def prepare(path: str | Path, min_size: int, max_size: int) -> Photo:
    """Decode (EXIF orientation honoured, grayscale/RGBA/PNG made RGB) and resize one photo."""
    try:
        im, (w, h) = load_for_model(path, min_size, max_size)
    except UserError as e:
        return Photo(Path(path), None, 0, 0, str(e))
    tensor = torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous()
    return Photo(Path(path), tensor, w, h)


def background_batches(
    paths: Sequence[str | Path], batch_size: int, min_size: int, max_size: int, threads: int = 2, prefetch: int = 2
) -> Iterator[list[Photo]]:
    """Yield photos in order, ``batch_size`` at a time, decoded by ``threads`` background threads that stay
    up to ``prefetch`` batches ahead (a bounded window, so ten thousand paths never sit in memory)."""
    window = max(1, batch_size * (prefetch + 1))
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="facade-wwr-decode") as pool:
        pending: deque[Future[Photo]] = deque()
        queue = iter(paths)
        for p in queue:
            pending.append(pool.submit(prepare, p, min_size, max_size))
            if len(pending) >= window:
                break
        batch: list[Photo] = []
        while pending:
            batch.append(pending.popleft().result())
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(prepare, nxt, min_size, max_size))
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


# ---------------------------------------------------------------------------------------------- masks


def _cell_weights(lo: float, hi: float, size: int, m: int, offset: float) -> tuple[int, int, torch.Tensor]:
    """``(first, last, W)``: the pixels ``first..last-1`` of one image axis whose box coordinate
    ``j + offset`` lies in the box ``[lo, hi]``, and their bilinear weights ``W`` (pixels x ``m``) on the
    cells, cell ``i`` centred at ``lo + (i + 0.5) (hi - lo) / m``; a pixel beyond the outer centres takes
    the outer cell."""
    scale = m / max(hi - lo, 1e-6)
    first = min(max(math.ceil(lo - offset), 0), size)
    last = max(min(math.floor(hi - offset) + 1, size), first)
    u = ((np.arange(first, last) + offset - lo) * scale - 0.5).clip(0, m - 1)
    i0 = np.floor(u).astype(np.int64)
    frac = torch.from_numpy((u - i0).astype(np.float32))[:, None]
    cells = torch.arange(m)
    low = torch.from_numpy(i0)[:, None] == cells
    high = torch.from_numpy(np.minimum(i0 + 1, m - 1))[:, None] == cells
    return first, last, (1 - frac) * low + frac * high


def paste_mask(
    prob: torch.Tensor,
    box: np.ndarray,
    height: int,
    width: int,
    threshold: float = 0.5,
    offset: tuple[float, float] = (0.5, 0.5),
):
    """Paste one ``M x M`` mask probability into its box; return ``(y0, y1, x0, x1, bool local mask)``.

    The inverse of how the mask head's training targets are cut: each pixel whose box coordinate
    ``j + offset`` (``RawDetections.mask_offset``) lies inside the box takes the bilinear interpolation of
    the cells around it, and is kept above ``threshold``. A ground-truth mask cut into cells that way and
    pasted back lands on its own pixels. torchvision's ``paste_masks_in_image`` instead stretches the
    mask over one pixel more than its box (the inclusive-pixel box of the first Detectron), which grew
    the demo model's windows of under 200 pixels by 16 % and cost it 0.014 mask AP50
    (docs/measurements.md, "Mask pasting").
    """
    m = prob.shape[-1]
    x0, x1, wx = _cell_weights(float(box[0]), float(box[2]), width, m, offset[0])
    y0, y1, wy = _cell_weights(float(box[1]), float(box[3]), height, m, offset[1])
    if x0 >= x1 or y0 >= y1:
        return 0, 0, 0, 0, np.zeros((0, 0), dtype=bool)
    local = (wy @ prob.float() @ wx.T) > threshold
    return y0, y1, x0, x1, local.numpy()


def piece_scores(
    scores: np.ndarray, category_ids: np.ndarray, rles: Sequence[str], areas: Sequence[int], height: int, width: int
) -> np.ndarray:
    """Each instance's score times the share of its mask that no higher-scored instance of its class
    already covers (the union of their masks; ``areas``: each mask's pixels, as encoded): a strip of a wall
    found whole keeps little of its score, a neighbour that merely touches keeps all of it. Taken in the
    order of the network's scores; an empty mask keeps its score.

    On the demo city's 20 val views, the model of a default run (3 December) goes from mask AP50 0.674 to
    0.710: buildings 0.501 to 0.568, windows 0.846 to 0.852. A discount rather than a removal, as Matrix
    NMS decays scores: removing what lies mostly inside a better mask gained less (docs/measurements.md,
    "Prediction-time experiments").
    """
    out = np.asarray(scores, dtype=np.float64).copy()
    covered: dict[int, dict] = {}  # per class, the union of the masks seen so far
    for i in np.argsort(-out, kind="stable"):
        pixels = areas[i]
        if pixels == 0:
            continue
        mask = rle_masks.rle(rles[i], height, width)
        c = int(category_ids[i])
        if c in covered:
            out[i] *= 1.0 - mask_utils.area(mask_utils.merge([mask, covered[c]], intersect=True)) / pixels
            covered[c] = mask_utils.merge([covered[c], mask])
        else:
            covered[c] = mask
    return out.astype(np.asarray(scores).dtype, copy=False)


def encode_instances(raw: RawDetections, height: int, width: int, threshold: float = 0.5, dense: bool = False):
    """Full-image RLE (and area) of every instance, encoded from its box alone (the full-size mask is never
    made: on a 1920x1080 photo that took most of the time); optionally the dense ``(N, H, W)`` stack."""
    n = len(raw.scores)
    rles: list[str] = []
    areas: list[int] = []
    stack = np.zeros((n, height, width), dtype=bool) if dense else None
    for i in range(n):
        y0, y1, x0, x1, local = paste_mask(raw.mask_probs[i], raw.boxes[i], height, width, threshold, raw.mask_offset)
        rles.append(rle_masks.encode_crop(local, y0, x0, height, width))
        areas.append(int(local.sum()))
        if stack is not None:
            stack[i, y0:y1, x0:x1] = local
    return rles, areas, stack


# ---------------------------------------------------------------------------------------------- the model


@dataclass
class Predictor:
    """A network ready to predict: built once, in eval mode, on its device."""

    engine: Engine
    module: torch.nn.Module
    classes: list[str]
    min_size: int
    max_size: int
    device: torch.device
    model_id: str
    amp: bool = False
    mask_threshold: float = 0.5

    def configure(self, min_score: float, detections_per_image: int) -> None:
        self.engine.set_test_options(self.module, min_score, detections_per_image)

    @torch.inference_mode()
    def detect(self, photos: Sequence[Photo]) -> list[RawDetections]:
        """The network's detections of decoded photos (on the CPU, boxes in the photos' pixel frames)."""
        if not photos:
            return []
        self.module.eval()
        sizes = [(p.height, p.width) for p in photos]
        with autocast(self.device, amp_active(self.device, self.amp)):
            return self.engine.predict(self.module, [p.tensor for p in photos], sizes, self.device)

    @torch.inference_mode()
    def encode(
        self, photos: Sequence[Photo], raws: Sequence[RawDetections], dense: bool = False
    ) -> list[EncodedInstances]:
        """Masks of :meth:`detect`'s detections pasted into their photos and run-length encoded, scores
        discounted for what their masks repeat (:func:`piece_scores`). A discounted score may fall under
        the floor score the network was given; the instance is kept (dropping them cost AP50 0.02)."""
        out = []
        for photo, raw in zip(photos, raws):
            rles, areas, stack = encode_instances(raw, photo.height, photo.width, self.mask_threshold, dense)
            scores = piece_scores(raw.scores, raw.category_ids, rles, areas, photo.height, photo.width)
            out.append(EncodedInstances(raw.boxes, scores, raw.category_ids, rles, areas, stack))
        return out

    def predict(self, photos: Sequence[Photo], dense: bool = False) -> list[EncodedInstances]:
        """Instances of decoded photos, in the photos' original pixel frames."""
        return self.encode(photos, self.detect(photos), dense)


def predictor_from_module(
    engine: Engine,
    module: torch.nn.Module,
    classes: Sequence[str],
    model: ModelSettings,
    device: torch.device,
    model_id: str,
    amp: bool = False,
) -> Predictor:
    min_size, max_size = resolved_sizes(engine, model)
    return Predictor(engine, module, list(classes), min_size, max_size, device, model_id, amp)


def resolved_sizes(engine: Engine, model: ModelSettings) -> tuple[int, int]:
    default_min, default_max = engine.default_sizes(model.architecture)
    return model.min_size or default_min, model.max_size or default_max


def load_predictor(
    path: str | Path,
    device: str = "auto",
    min_score: float = 0.05,
    detections_per_image: int | None = None,
    amp: bool = True,
) -> Predictor:
    """Build the network of a ``model.pt`` once and load its weights."""
    path = checkpoints.model_file(path)
    ckpt = checkpoints.read_model(path)
    engine = get_engine(str(ckpt["engine"]))
    model = from_dict(ModelSettings, ckpt.get("model_settings", {}))
    classes = [str(c) for c in ckpt["classes"]]
    module = engine.build(model, TrainSettings(), classes)
    try:
        module.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise UserError(
            f"{path}: weights do not fit {model.architecture} as this version of facade-wwr builds it "
            f"({first_line(e)}); retrain the model"
        ) from None
    dev = pick_device(device)
    module.to(dev).eval()
    predictor = predictor_from_module(engine, module, classes, model, dev, checkpoints.file_id(path), amp)
    predictor.configure(min_score, detections_per_image or model.detections_per_image)
    return predictor


# ---------------------------------------------------------------------------------------------- files


def distinct_photos(photos: Sequence[str | Path]) -> list[Path]:
    """The photos in their order, each once: one given twice (``a.jpg a.jpg``, ``a.jpg ./a.jpg``, in
    ``--photos-from`` and as an argument) is predicted once. Paths are compared with their folder resolved
    and their file name as given, so two names of one file (links, as in git-annex) stay two photos."""
    folders: dict[Path, Path] = {}
    seen: set[tuple[Path, str]] = set()
    distinct = []
    for p in map(Path, photos):
        if p.parent not in folders:
            folders[p.parent] = p.parent.resolve()
        key = (folders[p.parent], p.name)
        if key not in seen:
            seen.add(key)
            distinct.append(p)
    return distinct


def output_paths(photos: Sequence[Path], out_dir: Path) -> list[Path]:
    """``<out>/<stem>.parquet`` per photo; two photos with one stem would overwrite each other: refused."""
    seen: dict[str, Path] = {}
    for p in photos:
        if p.stem in seen:
            raise UserError(f"{p} and {seen[p.stem]} would both write {out_dir / (p.stem + '.parquet')}: rename one")
        seen[p.stem] = p
    return [out_dir / f"{p.stem}.parquet" for p in photos]


def refuse_stale(out_dir: Path, targets: Sequence[Path], model_id: str, add: bool = False, npz: bool = False) -> None:
    """Refuse an output folder holding prediction files this run would not write (a photo no longer asked
    for; allowed with ``add``), that another model made, or dense masks of a photo this run writes without
    them: analysed with the rest, they would mix in silence. Nothing is deleted."""
    if not out_dir.is_dir():
        return
    ours = {t.name for t in targets} | ({t.with_suffix(".npz").name for t in targets} if npz else set())
    for target in [] if npz else targets:
        if target.with_suffix(".npz").is_file():
            raise UserError(
                f"{target.with_suffix('.npz')}: dense masks of an earlier run, and this one writes none; "
                "add --npz, or move the file away"
            )
    for path in sorted(out_dir.iterdir()):
        if path.name.startswith(".") or path.suffix not in (".parquet", ".npz"):
            continue
        if path.name not in ours and not add:
            raise UserError(
                f"{path}: not a photo of this run; predict into an empty folder, move the file away, or --add"
            )
        made_by = predictions.model_of(path) if path.suffix == ".parquet" else model_id
        if made_by != model_id:
            raise UserError(
                f"{path}: made by model {made_by}, this run predicts with {model_id}; predict into an empty "
                "folder, or move the file away"
            )


def write_prediction(path: Path, photo: Photo, inst: EncodedInstances, classes: Sequence[str], engine: str, model: str):
    table = predictions.make_table(
        photo.path.name,
        [classes[int(c)] for c in inst.category_ids],
        inst.category_ids.tolist(),
        inst.scores.tolist(),
        inst.boxes,
        inst.rles,
        inst.areas,
    )
    dense = None
    if inst.dense is not None:  # make_table sorts by score; keep the npz in the table's order
        order = np.argsort(-inst.scores.astype(np.float32), kind="stable")
        dense = inst.dense[order]
    predictions.write(path, table, photo.path.name, photo.width, photo.height, engine, model, dense)


def predict_photos(
    predictor: Predictor,
    photos: Sequence[str | Path],
    out_dir: str | Path,
    batch_size: int = 4,
    npz: bool = False,
    warnings: Warnings | None = None,
    threads: int = 2,
    progress: bool = True,
    add: bool = False,
) -> dict[str, Any]:
    """Predict every photo (each once: see :func:`distinct_photos`) into ``out_dir``; an unreadable photo is
    warned about, skipped and written nothing.

    A writer thread encodes and writes each batch while the network runs the next one: on a GPU the CPU's
    mask encoding and the network's pass overlap instead of taking turns. ``out_dir`` may hold this
    model's files of other photos only with ``add`` (:func:`refuse_stale`).
    """
    warnings = warnings if warnings is not None else Warnings()
    paths = distinct_photos(photos)
    out_dir = Path(out_dir)
    targets = dict(zip(paths, output_paths(paths, out_dir)))
    refuse_stale(out_dir, list(targets.values()), predictor.model_id, add, npz)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, instances, skipped = 0, 0, []
    start = time.perf_counter()

    def finish(good: list[Photo], raws: list[RawDetections]) -> tuple[int, int]:
        """Encode and write one batch (in the writer thread, while the network runs the next batch); return
        the files and instances written."""
        batch = predictor.encode(good, raws, dense=npz)
        for photo, inst in zip(good, batch):
            write_prediction(
                targets[photo.path], photo, inst, predictor.classes, predictor.engine.name, predictor.model_id
            )
        return len(batch), sum(len(inst.scores) for inst in batch)

    def report(batch_written: Future[tuple[int, int]]) -> None:
        nonlocal written, instances
        files, found = batch_written.result()  # an error in the writer thread is raised here
        written, instances = written + files, instances + found
        done = written + len(skipped)
        if progress:
            elapsed = time.perf_counter() - start
            rate = done / elapsed if elapsed > 0 else float("nan")
            eta = (len(paths) - done) / rate if rate > 0 else float("nan")
            print(
                f"predict {done}/{len(paths)} photos  {rate:.2f} photos/s  ETA {format_eta(eta)}",
                file=sys.stderr,
                flush=True,
            )

    batches = background_batches(paths, batch_size, predictor.min_size, predictor.max_size, threads)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="facade-wwr-write") as writer:
        pending: Future[tuple[int, int]] | None = None  # the batch being written
        try:
            for batch in batches:
                good = []
                for photo in batch:
                    if photo.tensor is None:
                        skipped.append(str(photo.path))
                        warnings.warn(f"{photo.error}; skipped, no prediction file written")
                    else:
                        good.append(photo)
                raws = predictor.detect(good)
                if pending is not None:
                    report(pending)
                pending = writer.submit(finish, good, raws)
        except BaseException as e:  # the network's error (or Ctrl-C) is raised; the writer's, if any, is said
            failed = pending.exception() if pending is not None and not pending.cancelled() else None
            if failed is not None and failed is not e:
                print(f"facade-wwr: writing predictions also failed: {failed}", file=sys.stderr)
            raise
        if pending is not None:
            report(pending)
    return {
        "photos": len(paths),
        "written": written,
        "skipped": skipped,
        "instances": instances,
        "seconds": round(time.perf_counter() - start, 3),
    }


def read_photo_list(path: str | Path) -> list[str]:
    """One photo path per line; blank lines and lines starting with ``#`` are ignored, and so is a UTF-8
    byte-order mark (editors write one; it is no part of the first photo's name)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: photo list not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
