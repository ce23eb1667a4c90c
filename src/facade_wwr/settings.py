"""The ``model`` and ``train`` settings: their defaults, their rules, and how config files and ``--set`` give them.

* Defaults live in the two dataclasses below (``config/config.yaml`` mirrors them).
* Rules (types, ranges, choices) live in one JSON schema shipped inside the package,
  ``schemas/settings.schema.yaml``; :func:`check` applies it, for ``facade-wwr train`` and for the workflow
  (``common.smk``) alike, so the two refuse the same values.
* Every number is finite: JSON schema lets NaN through ``minimum``/``maximum``, so :func:`finite_problem`
  checks that over a whole config (the workflow calls it too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from facade_wwr.errors import UserError, first_line

SECTIONS = ("model", "train")


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
    #: torchvision engine: share the box head's object slots out by class before drawing the rest at random
    #: (:mod:`facade_wwr.engines.roi_sampling`); off: torchvision's draw, each class by its share of proposals.
    roi_balanced_classes: bool = False
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


@functools.cache
def schema() -> dict[str, Any]:
    """The settings schema shipped with the package (``$defs``: ``model``, ``train``)."""
    import yaml

    return yaml.safe_load(resources.files("facade_wwr").joinpath("schemas/settings.schema.yaml").read_text("utf-8"))


def finite_problem(data: Any, where: str = "") -> str | None:
    """``"KEY: VALUE is not a finite number"`` for the first NaN or infinity anywhere in ``data``, else None."""
    if isinstance(data, float) and not math.isfinite(data):
        return f"{where}: {data} is not a finite number"
    items = data.items() if isinstance(data, Mapping) else enumerate(data) if isinstance(data, list | tuple) else ()
    for k, v in items:
        problem = finite_problem(v, f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}" if where else str(k))
        if problem:
            return problem
    return None


def _coerced(rule: Mapping[str, Any], value: Any) -> Any:
    """Text that spells a number becomes one where the rule wants a number (YAML reads ``1e-3`` as text)."""
    kinds = rule.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if isinstance(value, str) and "integer" in kinds:
        with contextlib.suppress(ValueError):
            return int(value)  # exactly, where float() would round a long one
    if isinstance(value, str) and {"number", "integer"} & set(kinds):
        with contextlib.suppress(ValueError):
            value = float(value)
    return int(value) if isinstance(value, float) and "integer" in kinds and value.is_integer() else value


#: a jsonschema type in the words a user reads
_TYPES = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "text"}


def coerce_numbers(value: Any, rule: Mapping[str, Any]) -> Any:
    """``value`` (a config) with text that spells a number made a number wherever the JSON-schema ``rule``
    wants one: the workflow applies it to the whole config, as :func:`check` does to ``model``/``train``."""
    if isinstance(value, dict):
        properties = rule.get("properties", {})
        return {k: coerce_numbers(v, properties.get(k, {})) for k, v in value.items()}
    return _coerced(rule, value)


def _message(error: Any, rule: Mapping[str, Any]) -> str:
    """A jsonschema error in the words a user reads: what the value must be."""
    kind, bound, value = error.validator, error.validator_value, error.instance
    if kind == "type":
        kinds = [bound] if isinstance(bound, str) else bound
        return f"expected {' or '.join(_TYPES[k] for k in kinds if k != 'null')}, got {value!r}"
    if kind in ("minimum", "exclusiveMinimum"):
        words = {(0, "minimum"): "must not be negative", (0, "exclusiveMinimum"): "must be positive"}
        return words.get((bound, kind), f"must be {'at least' if kind == 'minimum' else 'above'} {bound}")
    if kind == "enum":
        return f"{value!r} is not one of {', '.join(map(str, bound))}"
    if kind == "pattern":
        return f"{value!r} is not {rule.get('description', bound)}"
    return first_line(error.message)


def check(section: str, values: Mapping[str, Any], source: str = "settings") -> dict[str, Any]:
    """``values`` of one section checked against the schema, numbers spelt as text made numbers; the first
    fault is a one-line UserError naming ``source`` (unknown keys) or the setting."""
    import jsonschema

    if not isinstance(values, Mapping):
        raise UserError(f"{source}: section {section} must be a mapping")
    rules = schema()["$defs"][section]
    known = rules["properties"]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise UserError(f"{source}: unknown setting {section}.{unknown[0]} (known: {', '.join(known)})")
    out = {}
    for key, value in values.items():
        if value is None and "null" not in known[key].get("type", []):
            raise UserError(f"setting {section}.{key}: a value is required")
        value = _coerced(known[key], value)
        problem = finite_problem(value, f"setting {section}.{key}")
        if problem:
            raise UserError(problem)
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(known[key]).iter_errors(value))
        if error is not None:
            raise UserError(f"setting {section}.{key}: {_message(error, known[key])}")
        out[key] = value
    return out


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` (value parsed as YAML, so ``1e-3``, ``true`` and ``null`` work)."""
    import yaml

    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in SECTIONS or not name:
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
    value)``, e.g. from the command line), each checked by :func:`check`."""
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    configs = [] if config is None else [config] if isinstance(config, str | Path) else list(config)
    for path in configs:
        for name, part in _config_sections(path).items():
            sections[name].update(check(name, part, str(path)))  # a fault names its file
    for section, key, value in overrides:
        sections[section].update(check(section, {key: value}, "--set"))
    return ModelSettings(**sections["model"]), TrainSettings(**sections["train"])


def _config_sections(config: str | Path) -> dict[str, dict[str, Any]]:
    """The ``model`` and ``train`` sections of one YAML config file (absent ones empty)."""
    import yaml

    try:
        with open(config, encoding="utf-8-sig") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise UserError(f"{config}: config file not found") from None
    except yaml.YAMLError as e:
        raise UserError(f"{config}: malformed YAML ({first_line(e)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{config}: expected a mapping with model and train sections")
    return {name: data.get(name) or {} for name in SECTIONS}


def from_dict(cls: type, values: Mapping[str, Any]) -> Any:
    """Rebuild settings saved in a checkpoint, ignoring keys a newer or older version does not know."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
