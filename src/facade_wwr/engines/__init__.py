"""Mask R-CNN engines behind one small interface, and the settings that drive them.

Two engines exist: ``torchvision`` (the default; pip-installable) and ``detectron2`` (used when detectron2
is installed). Both are driven by the same :class:`ModelSettings` / :class:`TrainSettings`, train through
the same loop (:mod:`facade_wwr.training`) and predict through the same code (:mod:`facade_wwr.inference`),
so they write identical files. An engine only knows how to build its network, load pretrained weights,
turn a batch of :class:`Sample` into a loss dict, and turn a batch of images into :class:`RawDetections`.

The defaults below are the one place where default settings live; ``config/config.yaml`` mirrors them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from facade_wwr.errors import UserError, first_line

if TYPE_CHECKING:  # torch is imported only by the engines themselves, so that light commands stay fast
    import numpy as np
    import torch

ENGINES = ("torchvision", "detectron2")


@dataclass
class ModelSettings:
    """The ``model`` section of the config: which network, which starting weights, which input size."""

    #: ``torchvision`` or ``detectron2``.
    engine: str = "torchvision"
    #: torchvision: ``maskrcnn_resnet50_fpn_v2`` or ``maskrcnn_resnet18_fpn_small`` (CPU demos and tests);
    #: detectron2: a model-zoo config name such as ``COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml``.
    architecture: str = "maskrcnn_resnet50_fpn_v2"
    #: ``coco`` (the engine's COCO-pretrained checkpoint, see ``download-weights``), ``imagenet`` (torchvision
    #: only: pretrained backbone), ``none`` (random init) or the path of a checkpoint file.
    weights: str = "coco"
    #: where ``download-weights`` puts (and training looks for) pretrained checkpoints.
    weights_dir: str = "resources/weights"
    #: the shorter photo side is scaled to ``min_size`` unless the longer one would exceed ``max_size``;
    #: ``None`` means the architecture's default (800/1333; the small variant 256/448).
    min_size: int | None = None
    max_size: int | None = None
    #: at most this many instances per photo (keep it above the densest facade's window count).
    detections_per_image: int = 300
    #: BatchNorm layers keep the pretrained statistics (batches of 2 are too small to estimate them).
    freeze_batchnorm: bool = True


@dataclass
class TrainSettings:
    """The ``train`` section of the config. Defaults follow the tutorial (LR 0.00025, 1000 iterations,
    2 images per batch, 512 ROIs per image) with a warm-up and cosine decay added."""

    max_iter: int = 1000
    ims_per_batch: int = 2
    #: ``sgd`` (momentum 0.9) or ``adamw``.
    optimizer: str = "sgd"
    base_lr: float = 0.00025
    momentum: float = 0.9
    weight_decay: float = 0.0001
    #: linear warm-up from 0.001 x base_lr over this many iterations (as detectron2 does).
    warmup_iters: int = 100
    #: ``cosine`` (decay to 0 at max_iter; the largest single gain seen) or ``constant``.
    lr_schedule: str = "cosine"
    #: gradient-norm clipping; 0 turns it off.
    grad_clip: float = 0.0
    #: sampled ROIs per image in the box head, and sampled anchors per image in the RPN.
    roi_batch_size_per_image: int = 512
    rpn_batch_size_per_image: int = 256
    #: random horizontal flips of training photos.
    hflip: bool = True
    #: evaluate on the val file every N iterations (0: only at the end).
    eval_period: int = 0
    #: write ``last.pt`` every N iterations (0: only at the end); a restarted run resumes from it.
    checkpoint_period: int = 100
    #: write a ``metrics.jsonl`` line and a progress line every N iterations.
    log_period: int = 20
    seed: int = 42
    #: background processes decoding training photos (0: in the main process).
    num_workers: int = 2
    #: mixed precision on CUDA (ignored on the CPU).
    amp: bool = True
    #: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    device: str = "auto"


#: settings that may change between an interrupted run and its resumption without invalidating it
RESUMABLE_CHANGES = frozenset({"eval_period", "checkpoint_period", "log_period", "num_workers", "device"})


@dataclass
class Sample:
    """One training photo, already resized to the model's input size (and flipped when drawn so).

    ``labels`` are 0-based category ids (the COCO file's); each engine maps them to its own convention.
    """

    image: torch.Tensor  # (3, h, w) uint8, RGB
    boxes: torch.Tensor  # (N, 4) float32, x0 y0 x1 y1 in resized pixels
    labels: torch.Tensor  # (N,) int64 category ids
    masks: torch.Tensor  # (N, h, w) uint8
    image_id: int = 0


@dataclass
class RawDetections:
    """One photo's detections before mask pasting, in the photo's original pixel frame.

    ``mask_probs`` are the mask head's low-resolution probabilities (N, M, M) for each box; pasting them
    into the full photo happens once, in :mod:`facade_wwr.inference`, for every engine alike.
    """

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    category_ids: np.ndarray  # (N,) int64, 0-based
    mask_probs: torch.Tensor  # (N, M, M) float32, on the CPU

    @classmethod
    def from_network(
        cls,
        boxes: torch.Tensor,
        scores: torch.Tensor,
        category_ids: torch.Tensor,
        mask_probs: torch.Tensor,
        input_size: tuple[int, int],
        original_size: tuple[int, int],
    ) -> RawDetections:
        """From a network's outputs on any device and in any precision: boxes in the resized input's frame
        (``input_size`` = ``(h, w)``) are mapped to the photo's (``original_size``) and clipped to it."""
        import numpy as np

        (h, w), (oh, ow) = input_size, original_size
        xyxy = boxes.float().cpu().numpy().astype(np.float32)
        xyxy[:, 0::2] = np.clip(xyxy[:, 0::2] * (ow / w), 0, ow)
        xyxy[:, 1::2] = np.clip(xyxy[:, 1::2] * (oh / h), 0, oh)
        return cls(
            boxes=xyxy,
            scores=scores.float().cpu().numpy().astype(np.float32),
            category_ids=category_ids.cpu().numpy().astype(np.int64),
            mask_probs=mask_probs.float().cpu(),
        )


class Engine(Protocol):
    """What the training loop and the predictor need from an engine."""

    name: str

    def default_sizes(self, architecture: str) -> tuple[int, int]:
        """(min_size, max_size) of the architecture when the settings leave them unset."""
        ...

    def build(self, model: ModelSettings, train: TrainSettings, classes: Sequence[str]) -> torch.nn.Module:
        """A randomly initialised network for ``len(classes)`` classes (seed the RNG before calling)."""
        ...

    def load_pretrained(self, module: torch.nn.Module, model: ModelSettings, classes: Sequence[str]) -> list[str]:
        """Load ``model.weights`` (coco / imagenet / a path) into ``module``; return notes on skipped tensors."""
        ...

    def losses(self, module: torch.nn.Module, batch: Sequence[Sample], device: torch.device) -> dict[str, torch.Tensor]:
        """The loss terms of one training batch (``module`` is in train mode)."""
        ...

    def set_test_options(self, module: torch.nn.Module, min_score: float, detections_per_image: int) -> None:
        """Score floor and detection cap used by :meth:`predict`."""
        ...

    def predict(
        self,
        module: torch.nn.Module,
        images: Sequence[torch.Tensor],
        original_sizes: Sequence[tuple[int, int]],
        device: torch.device,
    ) -> list[RawDetections]:
        """Detections of resized uint8 ``(3, h, w)`` images, boxes mapped back to ``original_sizes`` (H, W)."""
        ...


def input_size(width: int, height: int, min_size: int, max_size: int) -> tuple[int, int]:
    """The (width, height) a photo is resized to before entering a network, at training and prediction
    alike: the shorter side becomes ``min_size`` unless the longer one would then exceed ``max_size``."""
    scale = min(min_size / min(width, height), max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def get_engine(name: str) -> Engine:
    """The engine called ``name``; a missing detectron2 install is a one-line error with the fix."""
    if name == "torchvision":
        from facade_wwr.engines.torchvision_engine import TorchvisionEngine

        return TorchvisionEngine()
    if name == "detectron2":
        try:
            import detectron2  # noqa: F401
        except ImportError:
            raise UserError(
                "detectron2 is not installed: pip install --no-build-isolation "
                "'git+https://github.com/facebookresearch/detectron2.git' 'setuptools<81' "
                "(needs torch installed first and a C++ compiler), or use engine torchvision"
            ) from None
        from facade_wwr.engines.detectron2_engine import Detectron2Engine

        return Detectron2Engine()
    raise UserError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


# ---------------------------------------------------------------------------------------------- settings


def _coerce(section: str, f: dataclasses.Field, value: Any) -> Any:
    """Check one setting's type (YAML and ``--set`` give strings, ints, floats, bools or null)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    where = f"{section}.{f.name}"
    if value is None:
        if "None" in kind:
            return None
        raise UserError(f"setting {where}: a value is required")
    if kind.startswith("bool"):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise UserError(f"setting {where}: expected true or false, got {value!r}")
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int | str | float):
            raise UserError(f"setting {where}: expected an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"setting {where}: expected an integer, got {value!r}") from None
        if number != int(number):
            raise UserError(f"setting {where}: expected an integer, got {value!r}")
        return int(number)
    if kind.startswith("float"):
        if isinstance(value, bool):
            raise UserError(f"setting {where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"setting {where}: expected a number, got {value!r}") from None
    return str(value)


def _section(cls: type, name: str, values: Mapping[str, Any] | None, source: str) -> Any:
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise UserError(f"{source}: unknown setting {name}.{unknown[0]} (known: {', '.join(fields)})")
    return cls(**{k: _coerce(name, fields[k], v) for k, v in values.items()})


def validate(model: ModelSettings, train: TrainSettings) -> None:
    """Range checks that no type check catches; each message names the setting."""
    if model.engine not in ENGINES:
        raise UserError(f"setting model.engine: {model.engine!r} is not one of {', '.join(ENGINES)}")
    for name in ("min_size", "max_size"):
        v = getattr(model, name)
        if v is not None and v < 32:
            raise UserError(f"setting model.{name}: {v} is too small (at least 32 pixels)")
    if model.detections_per_image < 1:
        raise UserError("setting model.detections_per_image: must be at least 1")
    positive = ("max_iter", "ims_per_batch", "roi_batch_size_per_image", "rpn_batch_size_per_image", "log_period")
    for name in positive:
        if getattr(train, name) < 1:
            raise UserError(f"setting train.{name}: must be at least 1")
    for name in ("warmup_iters", "eval_period", "checkpoint_period", "num_workers", "grad_clip", "weight_decay"):
        if getattr(train, name) < 0:
            raise UserError(f"setting train.{name}: must not be negative")
    if train.base_lr <= 0:
        raise UserError("setting train.base_lr: must be positive")
    if train.optimizer not in ("sgd", "adamw"):
        raise UserError(f"setting train.optimizer: {train.optimizer!r} is not sgd or adamw")
    if train.lr_schedule not in ("cosine", "constant"):
        raise UserError(f"setting train.lr_schedule: {train.lr_schedule!r} is not cosine or constant")
    if not is_device_name(train.device):
        raise UserError(f"setting train.device: {train.device!r} is not auto, cpu, cuda or cuda:N")


def is_device_name(name: str) -> bool:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``: the devices training and prediction accept."""
    return re.fullmatch(r"auto|cpu|cuda(:\d+)?", name) is not None


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` (value parsed as YAML, so ``1e-3``, ``true`` and ``null`` work)."""
    import yaml

    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in ("model", "train") or not name:
        raise UserError(f"--set {text!r}: expected model.KEY=VALUE or train.KEY=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return section, name, value


def load_settings(
    config: str | Path | Sequence[str | Path] | None = None, overrides: Sequence[tuple[str, str, Any]] = ()
) -> tuple[ModelSettings, TrainSettings]:
    """Settings from the ``model`` and ``train`` sections of one or more config files (other sections are
    ignored; a later file overrides an earlier one key by key), then ``overrides`` (``(section, key,
    value)``, e.g. from the command line), then validation."""
    sections: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    configs = [] if config is None else [config] if isinstance(config, str | Path) else list(config)
    source = str(configs[-1]) if configs else "settings"
    for path in configs:
        for name, part in _config_sections(path, sections).items():
            _section(ModelSettings if name == "model" else TrainSettings, name, part, str(path))  # names its file
            sections[name].update(part)
    for section, key, value in overrides:
        sections[section][key] = value
    model = _section(ModelSettings, "model", sections["model"], source)
    train = _section(TrainSettings, "train", sections["train"], source)
    validate(model, train)
    return model, train


def _config_sections(config: str | Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The sections ``names`` of one YAML config file (absent ones empty)."""
    import yaml

    try:
        with open(config, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise UserError(f"{config}: config file not found") from None
    except yaml.YAMLError as e:
        raise UserError(f"{config}: malformed YAML ({first_line(e)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{config}: expected a mapping with model and train sections")
    out = {}
    for name in names:
        part = data.get(name) or {}
        if not isinstance(part, dict):
            raise UserError(f"{config}: section {name} must be a mapping")
        out[name] = part
    return out


def as_dict(settings: Any) -> dict[str, Any]:
    return dataclasses.asdict(settings)


def from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Rebuild settings saved in a checkpoint, ignoring keys a newer or older version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


__all__ = [
    "ENGINES",
    "Engine",
    "ModelSettings",
    "RawDetections",
    "Sample",
    "TrainSettings",
    "as_dict",
    "from_dict",
    "get_engine",
    "input_size",
    "is_device_name",
    "load_settings",
    "parse_assignment",
    "validate",
]
