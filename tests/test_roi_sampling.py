"""The box head's class-balanced ROI sampling (facade_wwr.engines.roi_sampling)."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler

from facade_wwr.engines import get_engine
from facade_wwr.engines.roi_sampling import ClassBalancedSampler, sample
from facade_wwr.settings import ModelSettings, TrainSettings

SMALL = ModelSettings(architecture="maskrcnn_resnet18_fpn_small", weights="none")


def _labels(windows: int, buildings: int, background: int, ignored: int = 5) -> torch.Tensor:
    """Shuffled proposal labels: class 1 (window), class 2 (building), background (0) and ignored (-1)."""
    labels = torch.cat(
        [
            torch.full((windows,), 1),
            torch.full((buildings,), 2),
            torch.zeros(background, dtype=torch.int64),
            torch.full((ignored,), -1),
        ]
    )
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]


@pytest.mark.parametrize(
    ("windows", "buildings", "background", "expected"),
    [
        (300, 40, 600, (16, 16, 96)),  # a quarter objects, half of them each class
        (300, 5, 600, (27, 5, 96)),  # few buildings: all of them, the windows fill in
        (5, 300, 600, (5, 27, 96)),
        (300, 0, 600, (32, 0, 96)),  # one class: as torchvision
        (10, 6, 600, (10, 6, 112)),  # few objects: all of them, more background
        (300, 40, 30, (16, 16, 30)),  # little background: all of it
        (3, 2, 1, (3, 2, 1)),  # fewer proposals than the batch: all of them
    ],
)
def test_sample_counts(windows: int, buildings: int, background: int, expected: tuple) -> None:
    torch.manual_seed(0)
    labels = _labels(windows, buildings, background)
    objects, chosen_background = sample(labels, 128, 0.25, num_classes=2)
    assert len(torch.unique(objects)) == len(objects) and len(torch.unique(chosen_background)) == len(chosen_background)
    counts = (int((labels[objects] == 1).sum()), int((labels[objects] == 2).sum()), len(chosen_background))
    assert counts == expected
    assert (labels[chosen_background] == 0).all() and (labels[objects] >= 1).all()


def test_sample_draws_at_random_within_a_class() -> None:
    labels = _labels(300, 40, 600)
    torch.manual_seed(3)
    first = sample(labels, 128, 0.25, 2)
    torch.manual_seed(3)
    again = sample(labels, 128, 0.25, 2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # a function of torch's seed
    torch.manual_seed(4)
    other = sample(labels, 128, 0.25, 2)
    assert not torch.equal(first[0], other[0])


def test_the_sampler_returns_torchvision_s_masks() -> None:
    torch.manual_seed(0)
    labels = [_labels(300, 40, 600), _labels(0, 0, 50)]
    pos, neg = ClassBalancedSampler(128, 0.25, 2)(labels)
    assert [p.dtype for p in pos] == [torch.uint8] * 2 and [len(n) for n in neg] == [len(x) for x in labels]
    assert int((labels[0][pos[0].bool()] == 2).sum()) == 16 and int(pos[1].sum()) == 0 and int(neg[1].sum()) == 50


def _target() -> dict[str, torch.Tensor]:
    boxes = torch.tensor([[10.0, 10.0, 300.0, 250.0], [40.0, 40.0, 60.0, 70.0], [80.0, 40.0, 100.0, 70.0]])
    masks = torch.zeros(3, 256, 341, dtype=torch.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        masks[k, y0:y1, x0:x1] = 1
    return {"boxes": boxes, "labels": torch.tensor([2, 1, 1]), "masks": masks}


def test_the_small_model_balances_its_classes_where_the_setting_asks() -> None:
    engine = get_engine("torchvision")
    classes = ["window", "building"]
    plain = engine.build(SMALL, TrainSettings(roi_batch_size_per_image=64), classes)
    assert type(plain.roi_heads.fg_bg_sampler) is BalancedPositiveNegativeSampler
    net = engine.build(SMALL, TrainSettings(roi_batch_size_per_image=64, roi_balanced_classes=True), classes)
    sampler = net.roi_heads.fg_bg_sampler
    assert isinstance(sampler, ClassBalancedSampler)
    assert (sampler.batch_size_per_image, sampler.positive_fraction, sampler.num_classes) == (64, 0.25, 2)
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def recording(labels: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        pos, neg = ClassBalancedSampler.__call__(sampler, labels)
        calls.extend(zip(labels, pos))
        return pos, neg

    net.roi_heads.fg_bg_sampler = recording
    net.train()
    torch.manual_seed(0)
    losses = net([torch.rand(3, 256, 341)], [_target()])
    assert all(torch.isfinite(v) for v in losses.values())
    ((labels, pos),) = calls
    chosen = labels[pos.bool()]
    per_class = [int((chosen == c).sum()) for c in (1, 2)]
    available = [int((labels == c).sum()) for c in (1, 2)]
    assert sum(per_class) == min(16, sum(available))  # the objects themselves are proposals too
    assert all(n >= min(8, a) for n, a in zip(per_class, available))
