"""Training a Mask R-CNN on COCO files, with periodic COCO evaluation, checkpoints and resumption.

One loop serves both engines (an engine turns a batch into a loss dict). Repeatability: the model is
initialised after seeding; which photos (and flips) make up iteration ``i`` depends only on the seed and
``i``; the global RNG state (used by the RPN and ROI samplers) is saved in ``last.pt``; so an interrupted
run that resumes from ``last.pt`` continues exactly as if it had not been interrupted (on the CPU; CUDA
kernels are not all deterministic).

Files in the model folder (every one written atomically):

* ``model.pt``: the final weights and the metadata needed to rebuild the network (``torch.load`` with
  ``weights_only=True``); ``last.pt``: the same plus optimizer, scaler and RNG state, for resuming.
* ``settings.json``: resolved settings, classes, engine, inputs and library versions.
* ``metrics.jsonl``: one line per logged iteration (loss terms, lr, seconds per iteration, ETA).
* ``metrics.json``: COCO evaluation on val (box and mask AP, AP50, per class) at the end, with the
  periodic evaluations in ``history``; ``loss.png``: the loss curves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from facade_wwr import __version__, checkpoints
from facade_wwr import masks as rle_masks
from facade_wwr.coco import class_names, image_path, load_coco
from facade_wwr.device import amp_active, amp_dtype_name, autocast, describe_device, pick_device, restore_cuda_rng
from facade_wwr.engines import Engine, Sample, get_engine
from facade_wwr.errors import UserError, Warnings, first_line
from facade_wwr.fileio import atomic_path, sha256, write_json, write_text
from facade_wwr.images import load_for_model
from facade_wwr.inference import predictor_from_module, resolved_sizes
from facade_wwr.progress import format_eta
from facade_wwr.settings import ModelSettings, TrainSettings

WARMUP_FACTOR = 0.001
#: what a run writes into its model folder
OUTPUT_FILES = ("model.pt", "last.pt", "settings.json", "metrics.json", "metrics.jsonl", "loss.png")


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Entry:
    path: Path
    image_id: int
    width: int
    height: int
    annotations: tuple[tuple[int, tuple[tuple[float, ...], ...]], ...]  # (category id, polygons)


class CocoTrainSet(torch.utils.data.Dataset):
    """Training photos of a COCO file, resized to the model's input size, masks rasterised at that size.

    Items are addressed by ``(index, flip)`` so that the sampler alone decides the augmentation, which
    keeps a run repeatable whatever the number of loader processes.
    """

    def __init__(self, coco_path: str | Path, min_size: int, max_size: int):
        coco = load_coco(coco_path)
        self.source = str(coco_path)
        self.classes = class_names(coco)
        self.min_size, self.max_size = min_size, max_size
        by_image: dict[int, list] = {im["id"]: [] for im in coco["images"]}
        for a in coco["annotations"]:
            if a.get("iscrowd", 0):
                continue
            seg = a.get("segmentation")
            if not isinstance(seg, list) or not seg:
                raise UserError(f"{coco_path}: annotation {a.get('id')} has no polygon segmentation")
            if a["image_id"] not in by_image:
                raise UserError(f"{coco_path}: annotation {a.get('id')} refers to unknown image {a['image_id']}")
            if not 0 <= a["category_id"] < len(self.classes):
                raise UserError(f"{coco_path}: annotation {a.get('id')} has unknown category {a['category_id']}")
            by_image[a["image_id"]].append((int(a["category_id"]), tuple(tuple(map(float, p)) for p in seg)))
        self.entries = [
            _Entry(image_path(coco_path, im), im["id"], im["width"], im["height"], tuple(by_image[im["id"]]))
            for im in coco["images"]
        ]
        if not self.entries:
            raise UserError(f"{coco_path}: no images to train on")
        for e in self.entries:
            if not e.path.is_file():
                raise UserError(f"{coco_path}: image {e.path.name} not found at {e.path}")
        if not any(e.annotations for e in self.entries):
            raise UserError(f"{coco_path}: no annotations to train on")

    def fingerprint(self) -> str:
        """sha256 over the COCO file and every photo's bytes: what a checkpoint was trained on. A photo
        replaced in place (same name and size, so the same COCO file) still changes it."""
        digest = hashlib.sha256(sha256(self.source).encode())
        for e in self.entries:
            digest.update(sha256(e.path).encode())
        return digest.hexdigest()

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: tuple[int, bool]) -> Sample:
        index, flip = key
        e = self.entries[index]
        im, size = load_for_model(e.path, self.min_size, self.max_size)  # exactly as predict does
        if size != (e.width, e.height):
            raise UserError(
                f"{self.source}: image {e.path.name} is {size[0]}x{size[1]}, the COCO file says "
                f"{e.width}x{e.height} (photo replaced after conversion? rerun via2coco)"
            )
        nw, nh = im.size
        image = np.array(im)  # a writable copy: torch refuses read-only arrays
        if flip:
            image = np.ascontiguousarray(image[:, ::-1])
        sx, sy = nw / e.width, nh / e.height
        crops, labels = [], []
        for category, polygons in e.annotations:
            scaled = [[v * (sx if i % 2 == 0 else sy) for i, v in enumerate(p)] for p in polygons]
            c = rle_masks.crop(rle_masks.polygons_to_rle(scaled, nh, nw))
            if c is not None:  # a sliver can vanish at the input size
                crops.append(c)
                labels.append(category)
        masks, boxes = _paste(crops, nh, nw, flip)
        return Sample(
            image=torch.from_numpy(image).permute(2, 0, 1).contiguous(),
            boxes=torch.from_numpy(boxes),
            labels=torch.tensor(labels, dtype=torch.int64),
            masks=masks,
            image_id=e.image_id,
        )


def _paste(crops: Sequence[rle_masks.Crop], height: int, width: int, flip: bool) -> tuple[torch.Tensor, np.ndarray]:
    """The ``(N, H, W)`` uint8 mask stack of mask crops (mirrored left-right if ``flip``) and their tight
    boxes ``(x0, y0, x1, y1)``, pixel edges included. Only the crops are written into the zeroed stack:
    decoding every full-size mask took 4x longer than everything else a training sample needs."""
    masks = torch.zeros((len(crops), height, width), dtype=torch.uint8)
    boxes = np.zeros((len(crops), 4), dtype=np.float32)
    stack = masks.numpy()
    for i, c in enumerate(crops):
        x0, y0, x1, y1 = c.box
        if flip:
            x0, x1 = width - x1, width - x0
        stack[i, y0:y1, x0:x1] = c.mask[:, ::-1] if flip else c.mask
        boxes[i] = (x0, y0, x1, y1)
    return masks, boxes


class IterationSampler(torch.utils.data.Sampler):
    """Batches of ``(index, flip)`` for iterations ``start .. stop - 1``: a fresh seeded permutation per
    epoch, walked ``batch`` items at a time; what iteration ``i`` sees depends only on the seed and ``i``."""

    def __init__(self, n: int, batch: int, seed: int, start: int, stop: int, hflip: bool):
        self.n, self.batch, self.seed, self.start, self.stop, self.hflip = n, batch, seed, start, stop, hflip
        self._epoch = -1
        self._order: list[int] = []
        self._flips: list[bool] = []

    def _draw(self, epoch: int) -> None:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        self._order = torch.randperm(self.n, generator=g).tolist()
        flips = torch.rand(self.n, generator=g) < 0.5
        self._flips = [bool(f) and self.hflip for f in flips.tolist()]
        self._epoch = epoch

    def batch_at(self, iteration: int) -> list[tuple[int, bool]]:
        keys = []
        for slot in range(iteration * self.batch, (iteration + 1) * self.batch):
            epoch, pos = divmod(slot, self.n)
            if epoch != self._epoch:
                self._draw(epoch)
            keys.append((self._order[pos], self._flips[pos]))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        for i in range(self.start, self.stop):
            yield self.batch_at(i)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def _collate(samples: list[Sample]) -> list[Sample]:
    return samples


# ---------------------------------------------------------------------------------------------- schedule


def lr_at(iteration: int, train: TrainSettings) -> float:
    """Learning rate of an iteration: linear warm-up from WARMUP_FACTOR x base_lr, then cosine or constant."""
    factor = 1.0
    if iteration < train.warmup_iters:
        alpha = iteration / train.warmup_iters
        factor = WARMUP_FACTOR * (1 - alpha) + alpha
    if train.lr_schedule == "cosine":
        factor *= 0.5 * (1.0 + math.cos(math.pi * iteration / train.max_iter))
    return train.base_lr * factor


def make_optimizer(module: torch.nn.Module, train: TrainSettings) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train.base_lr, weight_decay=train.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=train.base_lr, momentum=train.momentum, weight_decay=train.weight_decay)


# ---------------------------------------------------------------------------------------------- outputs


def plot_losses(records: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]], path: Path) -> list[str]:
    """Loss terms and total on a log scale, lr on a second axis, mask AP50 of each evaluation on a third, in
    one legend; returns the legend's entries."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    its = [r["iteration"] for r in records]
    terms = [k for k in (records[0] if records else {}) if k.startswith("loss")]
    for k in terms:
        ax.plot(its, [r[k] for r in records], lw=2.0 if k == "loss" else 1.0, label=k)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if records and min(min(r[k] for r in records) for k in terms) > 0:
        ax.set_yscale("log")
    ax2 = ax.twinx()
    ax2.plot(its, [r["lr"] for r in records], color="0.6", ls=":", label="lr")
    ax2.set_ylabel("learning rate")
    axes = [ax, ax2]
    evals = [(h["iteration"], h["segm"]["AP50"]) for h in history if h.get("segm", {}).get("AP50") is not None]
    if evals:
        ax3 = ax.twinx()
        ax3.spines["right"].set_position(("axes", 1.15))
        ax3.plot(*zip(*evals), "ko-", label="val mask AP50")
        ax3.set_ylim(0, 1)
        ax3.set_ylabel("val mask AP50")
        axes.append(ax3)
    # one legend for the lines of every axis (each axis's own legend would leave out the others')
    handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
    axes[-1].legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8)  # drawn last: on top
    ax.set_title("training loss")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return [h.get_label() for h in handles]


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def _read_jsonl(path: Path, upto: int) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and r.get("iteration", upto + 1) <= upto:
            out.append(r)
    return out


def _versions() -> dict[str, str]:
    import torchvision

    return {"facade_wwr": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__}


# ---------------------------------------------------------------------------------------------- the loop


@dataclass
class _Run:
    """Everything one training run holds, so that the steps below stay small functions."""

    engine: Engine
    module: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    model: ModelSettings
    train: TrainSettings
    classes: list[str]
    out: Path
    header: dict[str, Any]
    records: list[dict[str, Any]]
    history: list[dict[str, Any]]
    val: Path | None
    log: TextIO


def _evaluate(run: _Run, iteration: int) -> dict[str, Any] | None:
    from facade_wwr.coco_metrics import evaluate, format_metrics

    if run.val is None:
        return None
    was_training = run.module.training
    amp = run.scaler.is_enabled()  # evaluate as predict will run: with mixed precision where training had it
    predictor = predictor_from_module(run.engine, run.module, run.classes, run.model, run.device, "training", amp)
    predictor.configure(0.05, run.model.detections_per_image)
    t0 = time.perf_counter()
    metrics = evaluate(
        predictor, run.val, batch_size=max(1, run.train.ims_per_batch), max_dets=run.model.detections_per_image
    )
    metrics["iteration"] = iteration
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    run.module.train(was_training)
    print(f"eval {iteration}/{run.train.max_iter}  {format_metrics(metrics)}", file=run.log, flush=True)
    run.history = [h for h in run.history if h["iteration"] != iteration] + [metrics]
    return metrics


def _checkpoint(run: _Run, iteration: int) -> None:
    data = dict(run.header)
    data.update(
        format=checkpoints.LAST_FORMAT,
        iteration=iteration,
        model=checkpoints.cpu_state(run.module),
        optimizer=run.optimizer.state_dict(),
        scaler=run.scaler.state_dict(),
        rng=torch.get_rng_state(),
        cuda_rng=torch.cuda.get_rng_state(run.device)
        if run.device.type == "cuda"
        else torch.zeros(0, dtype=torch.uint8),
        history=json.dumps(run.history),
    )
    checkpoints.save(run.out / "last.pt", data)
    _write_jsonl(run.out / "metrics.jsonl", run.records)
    if run.records:
        plot_losses(run.records, run.history, run.out / "loss.png")


def _log(run: _Run, iteration: int, losses: dict[str, float], lr: float, window: list[float], data_time: float):
    sec = float(np.mean(window)) if window else float("nan")
    remaining = run.train.max_iter - iteration
    record = {"iteration": iteration, "loss": round(sum(losses.values()), 5)}
    record.update({k: round(v, 5) for k, v in losses.items()})
    record.update(lr=lr, sec_per_iter=round(sec, 4), data_time=round(data_time, 4), eta_s=round(sec * remaining, 1))
    run.records.append(record)
    _write_jsonl(run.out / "metrics.jsonl", run.records)
    print(
        f"train {iteration}/{run.train.max_iter}  loss {record['loss']:.4f}  lr {lr:.2e}  "
        f"{sec:.2f} s/it  ETA {format_eta(sec * remaining)}",
        file=run.log,
        flush=True,
    )


def _step(run: _Run, batch: list[Sample], iteration: int) -> dict[str, float]:
    lr = lr_at(iteration, run.train)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    with autocast(run.device, run.scaler.is_enabled()):
        losses = run.engine.losses(run.module, batch, run.device)
    total = sum(losses.values())
    if not torch.isfinite(total):
        raise UserError(
            f"training diverged at iteration {iteration + 1} (loss {float(total.detach())}): lower train.base_lr "
            "or raise train.warmup_iters, then rerun with --restart"
        )
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(total).backward()
    if run.train.grad_clip > 0:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.module.parameters(), run.train.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return {k: float(v.detach()) for k, v in losses.items()}


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_settings(engine: Engine, model: ModelSettings) -> ModelSettings:
    """Fill in the architecture's default input size, so that settings.json says what was used."""
    min_size, max_size = resolved_sizes(engine, model)
    return ModelSettings(**{**dataclasses.asdict(model), "min_size": min_size, "max_size": max_size})


def _class_check(train_path: Path, val_path: Path | None) -> list[str]:
    classes = class_names(load_coco(train_path))
    if not classes:
        raise UserError(f"{train_path}: no categories")
    if val_path is not None:
        val_classes = class_names(load_coco(val_path))
        if val_classes != classes:
            raise UserError(f"{val_path}: classes {val_classes} differ from {train_path}'s {classes}")
    return classes


def train(
    train_coco: str | Path,
    val_coco: str | Path | None,
    out_dir: str | Path,
    model: ModelSettings,
    settings: TrainSettings,
    restart: bool = False,
    log: TextIO | None = None,
    warnings: Warnings | None = None,
) -> dict[str, Any]:
    """Train (or resume), evaluate on ``val_coco`` periodically and at the end; return the final metrics."""
    log = log or sys.stderr
    warnings = warnings if warnings is not None else Warnings()
    train_path, val_path = Path(train_coco), Path(val_coco) if val_coco else None
    out = Path(out_dir)
    engine = get_engine(model.engine)
    model = prepare_settings(engine, model)
    classes = _class_check(train_path, val_path)
    if val_path is not None and not load_coco(val_path)["annotations"]:
        warnings.warn(f"{val_path}: no annotations, so no COCO evaluation")
        val_path = None
    dataset = CocoTrainSet(train_path, model.min_size, model.max_size)
    device = pick_device(settings.device)
    header = checkpoints.header(engine.name, model, settings, classes, dataset.fingerprint())
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last.pt"
    ckpt = checkpoints.read_last(last) if last.is_file() and not restart else None
    difference = checkpoints.resume_difference(ckpt, header) if ckpt is not None else None
    if difference is not None:  # settings changed since (the workflow reruns train after a config edit)
        warnings.warn(f"{last}: {difference}; starting over instead of resuming")
        ckpt = None

    _seed_everything(settings.seed)
    module = engine.build(model, settings, classes)
    if ckpt is not None:
        try:
            module.load_state_dict(ckpt["model"])
        except RuntimeError as e:  # same settings, but this version of facade-wwr builds another network
            warnings.warn(f"{last}: its weights do not fit the network built now ({first_line(e)}); starting over")
            ckpt = None
            _seed_everything(settings.seed)  # a failed load may have copied some tensors: build afresh
            module = engine.build(model, settings, classes)
    if ckpt is None:
        for note in engine.load_pretrained(module, model, classes):
            print(f"weights: {note}", file=log)
    module.to(device)
    optimizer = make_optimizer(module, settings)
    amp = amp_active(device, settings.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    start = 0
    records: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty when the run began where mixed precision was off (the CPU)
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"])
        restore_cuda_rng(ckpt.get("cuda_rng"), device)
        start = int(ckpt["iteration"])
        records = _read_jsonl(out / "metrics.jsonl", start)
        history = json.loads(ckpt.get("history", "[]"))
        print(f"resuming from {last} at iteration {start}", file=log)
    settings_doc = dict(header, train_coco=str(train_path), val_coco=str(val_path) if val_path else None)
    settings_doc["train_settings"] = dataclasses.asdict(settings)  # all of them, how the run went too
    settings_doc.update(device=str(device), amp=amp, versions=_versions())
    write_json(out / "settings.json", settings_doc)
    precision = f"mixed precision ({amp_dtype_name(device)})" if amp else "float32"
    print(f"training on {describe_device(device)}, {precision}, {len(dataset)} photos", file=log, flush=True)

    run = _Run(
        engine=engine,
        module=module,
        optimizer=optimizer,
        scaler=scaler,
        device=device,
        model=model,
        train=settings,
        classes=classes,
        out=out,
        header=header,
        records=records,
        history=history,
        val=val_path,
        log=log,
    )
    _loop(run, dataset, start)
    return _finish(run)


def _unwrapped(loader: torch.utils.data.DataLoader) -> Iterator[list[Sample]]:
    """Iterate a DataLoader, turning a UserError raised in a worker process back into its one-line message
    (the loader re-raises it with the worker's traceback folded into the message)."""
    try:
        yield from loader
    except UserError as e:
        text = str(e)
        marker = "UserError: "
        if marker in text:
            text = text.rsplit(marker, 1)[1].strip().splitlines()[0]
        raise UserError(text) from None


def _loop(run: _Run, dataset: CocoTrainSet, start: int) -> None:
    s = run.train
    if start >= s.max_iter:
        return
    sampler = IterationSampler(len(dataset), s.ims_per_batch, s.seed, start, s.max_iter, s.hflip)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=s.num_workers,
        collate_fn=_collate,
        generator=torch.Generator().manual_seed(s.seed),  # keeps the global RNG untouched by the loader
        persistent_workers=False,
    )
    run.module.train()
    window: list[float] = []
    tick = time.perf_counter()
    iteration = start
    for batch in _unwrapped(loader):
        data_time = time.perf_counter() - tick
        losses = _step(run, batch, iteration)
        iteration += 1
        now = time.perf_counter()
        window = (window + [now - tick])[-s.log_period :]
        tick = now
        if iteration % s.log_period == 0 or iteration == s.max_iter or iteration == start + 1:
            _log(run, iteration, losses, lr_at(iteration - 1, s), window, data_time)
        if iteration >= s.max_iter:
            break
        evaluate_now = bool(s.eval_period) and iteration % s.eval_period == 0
        if evaluate_now:
            _evaluate(run, iteration)
        if evaluate_now or (s.checkpoint_period and iteration % s.checkpoint_period == 0):
            _checkpoint(run, iteration)
            tick = time.perf_counter()


def _finish(run: _Run) -> dict[str, Any]:
    """Final checkpoint, model.pt, evaluation, metrics.json and the loss plot."""
    iteration = run.train.max_iter
    model_path = run.out / "model.pt"
    checkpoints.save_model(model_path, run.header, run.module, iteration)
    final = _evaluate(run, iteration)
    _checkpoint(run, iteration)
    doc = {
        "engine": run.engine.name,
        "architecture": run.model.architecture,
        "classes": run.classes,
        "iteration": iteration,
        "model": checkpoints.file_id(model_path),
        "val": str(run.val) if run.val else None,
        "bbox": final["bbox"] if final else None,
        "segm": final["segm"] if final else None,
        "history": run.history,
    }
    write_json(run.out / "metrics.json", doc)
    return doc
