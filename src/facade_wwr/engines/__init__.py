"""Mask R-CNN engines behind one small interface.

Two engines exist: ``torchvision`` (the default; pip-installable) and ``detectron2`` (used when detectron2
is installed). Both are driven by the same settings (:mod:`facade_wwr.settings`), train through
the same loop (:mod:`facade_wwr.training`) and predict through the same code (:mod:`facade_wwr.inference`),
so they write identical files. An engine only knows how to build its network, load pretrained weights,
turn a batch of :class:`Sample` into a loss dict, and turn a batch of images into :class:`RawDetections`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from facade_wwr.errors import UserError
from facade_wwr.settings import ModelSettings, TrainSettings, schema

if TYPE_CHECKING:  # torch is imported only by the engines themselves, so that light commands stay fast
    import numpy as np
    import torch

ENGINES = tuple(schema()["$defs"]["model"]["properties"]["engine"]["enum"])


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
    ``mask_offset`` (x, y) places the photo's pixels in the cells' frame: pixel ``j`` of the photo lies at
    box coordinate ``j + offset``, as the mask head's training targets were cut (see :meth:`from_network`).
    """

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    category_ids: np.ndarray  # (N,) int64, 0-based
    mask_probs: torch.Tensor  # (N, M, M) float32, on the CPU
    mask_offset: tuple[float, float] = (0.5, 0.5)

    @classmethod
    def from_network(
        cls,
        boxes: torch.Tensor,
        scores: torch.Tensor,
        category_ids: torch.Tensor,
        mask_probs: torch.Tensor,
        input_size: tuple[int, int],
        original_size: tuple[int, int],
        mask_shift: float,
    ) -> RawDetections:
        """From a network's outputs on any device and in any precision: boxes in the resized input's frame
        (``input_size`` = ``(h, w)``) are mapped to the photo's (``original_size``) and clipped to it.

        ``mask_shift``: how far, in input pixels, the mask head's cells lie right of and below their box,
        as its training targets were cut. torchvision's ``maskrcnn_loss`` cuts them with RoIAlign
        ``aligned=False``, which reads pixel ``k``'s value at coordinate ``k`` rather than at its centre
        ``k + 0.5``, so its targets sample the image half an input pixel right of and below the box (0.5);
        detectron2 cuts them with ``aligned=True`` (0). A pixel's centre ``j + 0.5`` of the photo then lies
        at box coordinate ``j + 0.5 - mask_shift * (photo size / input size)``.
        """
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
            mask_offset=(0.5 - mask_shift * ow / w, 0.5 - mask_shift * oh / h),
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
