"""Which objects the torchvision engine's box head trains on: a share for every class.

In training the box head sees ``train.roi_batch_size_per_image`` proposals per photo: up to a quarter of
them objects (IoU >= 0.5 with one), the rest background. torchvision draws the objects at random, so each
class gets a share as large as its share of the matched proposals. On facades that share is small for the
building: a street view has one or two buildings and dozens of windows, and the windows' proposals fill
nearly every object slot, so the building masks, which decide how many footprints the geographic stages
find, learn from a few proposals a photo. With ``train.roi_balanced_classes`` the object slots are shared
out first: each class gets up to ``slots // number of classes`` of them, drawn at random from its own
proposals, and the slots a class cannot fill go to the others at random; the background is drawn as
torchvision draws it. Photos whose objects are all of one class train as before.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.models.detection.roi_heads import RoIHeads


def sample(labels: Tensor, batch_size: int, positive_fraction: float, num_classes: int) -> tuple[Tensor, Tensor]:
    """Indices of the objects and of the background one photo trains on.

    ``labels``: per proposal, its class (1 to ``num_classes``), 0 for background, -1 to ignore. As many
    objects as torchvision takes (up to ``positive_fraction`` of ``batch_size``), each class first up to an
    equal share of them, then the rest at random; background for the remainder of the batch. Draws from
    torch's global generator.
    """
    positive = torch.where(labels >= 1)[0]
    negative = torch.where(labels == 0)[0]
    num_pos = min(positive.numel(), int(batch_size * positive_fraction))
    num_neg = min(negative.numel(), batch_size - num_pos)
    quota = num_pos // num_classes
    taken = torch.zeros(labels.numel(), dtype=torch.bool, device=labels.device)
    for cls in range(1, num_classes + 1):
        members = torch.where(labels == cls)[0]
        taken[members[torch.randperm(members.numel(), device=labels.device)[:quota]]] = True
    rest = torch.where((labels >= 1) & ~taken)[0]
    shortfall = num_pos - int(taken.sum())
    taken[rest[torch.randperm(rest.numel(), device=labels.device)[:shortfall]]] = True
    objects = torch.where(taken)[0]
    background = negative[torch.randperm(negative.numel(), device=labels.device)[:num_neg]]
    return objects, background


class ClassBalancedSampler(BalancedPositiveNegativeSampler):
    """torchvision's sampler with :func:`sample` in place of its random draw of the objects."""

    def __init__(self, batch_size_per_image: int, positive_fraction: float, num_classes: int) -> None:
        super().__init__(batch_size_per_image, positive_fraction)
        self.num_classes = num_classes

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            objects, background = sample(labels, self.batch_size_per_image, self.positive_fraction, self.num_classes)
            pos, neg = torch.zeros_like(labels, dtype=torch.uint8), torch.zeros_like(labels, dtype=torch.uint8)
            pos[objects], neg[background] = 1, 1
            pos_masks.append(pos)
            neg_masks.append(neg)
        return pos_masks, neg_masks


def balance_classes(roi_heads: RoIHeads, num_classes: int) -> None:
    """Make a built model's box head share its object slots out by class (``num_classes``: no background)."""
    old = roi_heads.fg_bg_sampler
    roi_heads.fg_bg_sampler = ClassBalancedSampler(old.batch_size_per_image, old.positive_fraction, num_classes)
