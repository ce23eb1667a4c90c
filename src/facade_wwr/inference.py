"""Batched prediction: photos decoded in background threads, one network pass per batch, each mask pasted
inside its box and stored as the COCO RLE of the full photo in per-photo prediction files.

Why this shape: decoding a 1920x1080 JPEG costs tens of milliseconds that the network should not wait for
(threads suffice: Pillow releases the GIL while decoding); and pasting every instance as a full-image
float mask, as torchvision's own post-processing does, would hold 300 x H x W floats per photo, so masks
stay at the mask head's 28 x 28 until each is pasted into its box, thresholded, and run-length encoded
from that box alone (the full-size mask is never made).
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
import torch.nn.functional as F

from facade_wwr import masks as rle_masks
from facade_wwr import predictions
from facade_wwr.engines import (
    Engine,
    ModelSettings,
    RawDetections,
    TrainSettings,
    from_dict,
    get_engine,
    input_size,
    is_device_name,
)
from facade_wwr.errors import UserError, Warnings, first_line
from facade_wwr.fileio import sha256
from facade_wwr.images import open_image, to_rgb

MODEL_FORMAT = "facade-wwr/model/1"


@dataclass
class Photo:
    """A decoded, resized photo ready for the network (or the error that stopped it)."""

    path: Path
    tensor: torch.Tensor | None  # (3, h, w) uint8
    width: int
    height: int
    error: str = ""


@dataclass
class Instances:
    """One photo's instances, masks already encoded (``dense`` only when asked for)."""

    boxes: np.ndarray
    scores: np.ndarray
    category_ids: np.ndarray
    rles: list[str]
    areas: list[int]
    dense: np.ndarray | None = None


# ---------------------------------------------------------------------------------------------- device


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU; or ``cpu``, ``cuda``, ``cuda:N``."""
    if not is_device_name(name):
        raise UserError(f"device {name!r} is not auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name}: CUDA is not available on this machine (use auto or cpu)")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def describe_device(device: torch.device) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H200)``: for logs and benchmark figures."""
    if device.type != "cuda":
        return str(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


#: the autocast dtype of mixed precision per device type: float16 on CUDA, with loss scaling in training
#: (as torchvision's references and detectron2's AMP trainer do). The CPU runs float32: it is not in the
#: table. Tests add ``"cpu": torch.bfloat16`` to run the AMP code path here (float16 backward passes are
#: about a hundred times slower than bfloat16 ones on a CPU).
AMP_DTYPES: dict[str, torch.dtype] = {"cuda": torch.float16}


def amp_active(device: torch.device, requested: bool) -> bool:
    """Whether mixed precision is used: asked for, and on a device that has an AMP dtype."""
    return requested and device.type in AMP_DTYPES


def amp_dtype_name(device: torch.device) -> str:
    return str(AMP_DTYPES.get(device.type, torch.float32)).removeprefix("torch.")


def autocast(device: torch.device, active: bool):
    """The autocast context of mixed precision (a no-op when not ``active``)."""
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES.get(device.type), enabled=active)


# ---------------------------------------------------------------------------------------------- loading photos


#: EXIF orientations that swap width and height
_TRANSPOSED = (5, 6, 7, 8)


def load_for_model(path: str | Path, min_size: int, max_size: int):
    """Decode a photo straight to the network's input size; return it (RGB, EXIF orientation applied) and
    the photo's displayed ``(width, height)``. Used at training and prediction time alike.

    A JPEG much larger than the input is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (``draft``), never
    below the input size, then resized: a 1920x1080 photo for a 448 px input decodes in 4 ms instead of 22.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
            w, h = (im.height, im.width) if orientation in _TRANSPOSED else im.size
            nw, nh = input_size(w, h, min_size, max_size)
            if nw < w:
                im.draft("RGB", (nh, nw) if orientation in _TRANSPOSED else (nw, nh))
            im.load()
            im = to_rgb(ImageOps.exif_transpose(im))
    except Exception:  # let open_image name the problem in its usual words (or read what PIL could not)
        im = open_image(path)
        w, h = im.size
        nw, nh = input_size(w, h, min_size, max_size)
    if im.size != (nw, nh):
        im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    return im, (w, h)


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


def paste_mask(prob: torch.Tensor, box: np.ndarray, height: int, width: int, threshold: float = 0.5):
    """Paste one ``M x M`` mask probability into its box; return ``(y0, y1, x0, x1, bool local mask)``.

    Same geometry as torchvision's ``paste_masks_in_image``: the mask is padded by one cell and its box
    expanded by ``(M + 2) / M``, resized bilinearly to the box's pixels, then thresholded.
    """
    m = prob.shape[-1]
    scale = (m + 2.0) / m
    padded = F.pad(prob[None, None], (1, 1, 1, 1))
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    hw, hh = (box[2] - box[0]) / 2.0 * scale, (box[3] - box[1]) / 2.0 * scale
    bx0, by0, bx1, by1 = int(cx - hw), int(cy - hh), int(cx + hw), int(cy + hh)
    bw, bh = max(bx1 - bx0 + 1, 1), max(by1 - by0 + 1, 1)
    local = F.interpolate(padded, size=(bh, bw), mode="bilinear", align_corners=False)[0, 0] > threshold
    x0, x1 = max(bx0, 0), min(bx1 + 1, width)
    y0, y1 = max(by0, 0), min(by1 + 1, height)
    if x0 >= x1 or y0 >= y1:
        return 0, 0, 0, 0, np.zeros((0, 0), dtype=bool)
    return y0, y1, x0, x1, local[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0].numpy()


def encode_instances(raw: RawDetections, height: int, width: int, threshold: float = 0.5, dense: bool = False):
    """Full-image RLE (and area) of every instance, encoded from its box alone (the full-size mask is never
    made: on a 1920x1080 photo that took most of the time); optionally the dense ``(N, H, W)`` stack."""
    n = len(raw.scores)
    rles: list[str] = []
    areas: list[int] = []
    stack = np.zeros((n, height, width), dtype=bool) if dense else None
    for i in range(n):
        y0, y1, x0, x1, local = paste_mask(raw.mask_probs[i], raw.boxes[i], height, width, threshold)
        rles.append(rle_masks.encode_crop(local, y0, x0, height, width))
        areas.append(int(local.sum()))
        if stack is not None:
            stack[i, y0:y1, x0:x1] = local
    return rles, areas, stack


# ---------------------------------------------------------------------------------------------- the model


def file_id(path: str | Path) -> str:
    """The model id written into prediction files: the first 12 hex digits of the checkpoint's sha256."""
    return sha256(path)[:12]


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
    def encode(self, photos: Sequence[Photo], raws: Sequence[RawDetections], dense: bool = False) -> list[Instances]:
        """Masks of :meth:`detect`'s detections pasted into their photos and run-length encoded."""
        out = []
        for photo, raw in zip(photos, raws):
            rles, areas, stack = encode_instances(raw, photo.height, photo.width, self.mask_threshold, dense)
            out.append(Instances(raw.boxes, raw.scores, raw.category_ids, rles, areas, stack))
        return out

    def predict(self, photos: Sequence[Photo], dense: bool = False) -> list[Instances]:
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


def model_file(path: str | Path) -> Path:
    """``MODEL_DIR`` or a checkpoint file inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise UserError(f"{path}: model checkpoint not found (train one with `facade-wwr train`)")
    return path


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a torch file
        raise UserError(f"{path}: not a readable facade-wwr checkpoint ({first_line(e)})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "engine" not in ckpt or "classes" not in ckpt:
        raise UserError(f"{path}: not a facade-wwr model checkpoint (train one with `facade-wwr train`)")
    return ckpt


def load_predictor(
    path: str | Path,
    device: str = "auto",
    min_score: float = 0.05,
    detections_per_image: int | None = None,
    amp: bool = True,
) -> Predictor:
    """Build the network of a ``model.pt`` once and load its weights."""
    path = model_file(path)
    ckpt = read_checkpoint(path)
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
    predictor = predictor_from_module(engine, module, classes, model, dev, file_id(path), amp)
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


def write_prediction(path: Path, photo: Photo, inst: Instances, classes: Sequence[str], engine: str, model: str):
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


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def predict_photos(
    predictor: Predictor,
    photos: Sequence[str | Path],
    out_dir: str | Path,
    batch_size: int = 4,
    npz: bool = False,
    warnings: Warnings | None = None,
    threads: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every photo (each once: see :func:`distinct_photos`) into ``out_dir``; an unreadable photo is
    warned about, skipped and written nothing.

    A writer thread encodes and writes each batch while the network runs the next one: on a GPU the CPU's
    mask encoding and the network's pass overlap instead of taking turns.
    """
    warnings = warnings if warnings is not None else Warnings()
    paths = distinct_photos(photos)
    out_dir = Path(out_dir)
    targets = dict(zip(paths, output_paths(paths, out_dir)))
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
                f"predict {done}/{len(paths)} photos  {rate:.2f} photos/s  ETA {_eta(eta)}",
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
