"""The torchvision Mask R-CNN engine (the default: pip-installable, runs anywhere).

Architectures:

* ``maskrcnn_resnet50_fpn_v2``: torchvision's improved R50-FPN Mask R-CNN, for real work (COCO weights).
* ``maskrcnn_resnet18_fpn_small``: a ResNet-18 FPN with slim heads for CPU demos and tests, following the
  recipe measured for the demo (docs/measurements.md, "Training recipe experiments"): 128-channel FPN,
  256-wide box head, 4x128 mask head, three anchor sizes per level from (8, 16, 32) to (128, 256, 512), an
  anchor an object's from IoU 0.6 (not 0.7: a building cut by the frame matches few anchors), 256 px input,
  and ROI pooling with as many samples per bin as the ROI spans feature cells (``sampling_ratio=0``,
  detectron2's default; torchvision's fixed 2x2 made training 3-10 % slower on the CPU, most ROIs being small
  windows). In training the RPN keeps 1,000 proposals per level before NMS and 1,000 per image after it
  (torchvision: 2,000 and 2,000; detectron2 keeps 1,000 after): the NMS took a fifth of a CPU step, and val
  AP50 did not change (docs/measurements.md, "Speed work").

On the CPU both architectures pool their ROIs with :class:`facade_wwr.engines.roi_align.MultiScaleRoIAlign`
(torchvision's numbers, about 4.5x faster forward and backward).

Mixed precision: torchvision decodes box deltas in the dtype of the deltas, so under a bfloat16 autocast
(8 significant bits: a 300 px coordinate is known to 2 px) proposals collapse to zero width and the box
loss turns NaN within 20 iterations. The RPN head and the box predictor therefore hand their outputs on in
float32 (:func:`_float32_outputs`); every convolution still runs in the autocast dtype.

Labels: torchvision reserves 0 for the background, so a category id ``c`` of the COCO file is label
``c + 1`` here, and back again on output; the number of classes always comes from the COCO file.
Resizing is done outside the network (the same function at training and prediction time), so the
network's own transform only normalises and batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from facade_wwr.engines import RawDetections, Sample, box_iou, roi_align, roi_sampling
from facade_wwr.errors import UserError
from facade_wwr.settings import ModelSettings, TrainSettings

ARCHITECTURES = {
    # name: (default min_size, default max_size)
    "maskrcnn_resnet50_fpn_v2": (800, 1333),
    "maskrcnn_resnet18_fpn_small": (256, 448),
}


class _NoResizeTransform(GeneralizedRCNNTransform):
    """Normalise and batch only: photos arrive already resized by :func:`facade_wwr.images.input_size`."""

    def resize(self, image, target=None):  # type: ignore[override]
        return image, target


def _frozen_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d by a FrozenBatchNorm2d (same buffers, so pretrained weights still load)."""
    from torchvision.ops import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, FrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            _frozen_batchnorm(child)
    return module


def _float32_outputs(module: nn.Module, inputs: object, outputs: object) -> object:
    """Forward hook: the module's tensor outputs (a tensor, or a tuple of tensors or of lists of tensors)
    in float32, so that box deltas are decoded and regressed at full precision under autocast."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    return tuple(o.float() if isinstance(o, torch.Tensor) else [t.float() for t in o] for o in outputs)


def _small(num_labels: int, model: ModelSettings, train: TrainSettings) -> nn.Module:
    from torchvision.models import resnet18
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import BackboneWithFPN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.rpn import RPNHead
    from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
    from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

    channels = 128
    body = resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[64, 128, 256, 512],
        out_channels=channels,
        extra_blocks=LastLevelMaxPool(),
    )
    levels = ["0", "1", "2", "3"]  # the FPN outputs the ROI heads pool from (not the extra max-pool level)
    anchors = AnchorGenerator(
        sizes=((8, 16, 32), (16, 32, 64), (32, 64, 128), (64, 128, 256), (128, 256, 512)),
        aspect_ratios=((0.5, 1.0, 2.0),) * 5,
    )
    return MaskRCNN(
        backbone,
        num_classes=None,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0]),
        box_roi_pool=MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=0),
        mask_roi_pool=MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=0),
        box_head=TwoMLPHead(channels * 7 * 7, 256),
        box_predictor=FastRCNNPredictor(256, num_labels),
        mask_head=MaskRCNNHeads(channels, [128, 128, 128, 128], 1),
        mask_predictor=MaskRCNNPredictor(128, 128, num_labels),
        rpn_batch_size_per_image=train.rpn_batch_size_per_image,
        rpn_fg_iou_thresh=0.6,
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=1000,
        box_batch_size_per_image=train.roi_batch_size_per_image,
        box_detections_per_img=model.detections_per_image,
    )


def _r50_v2(num_labels: int, model: ModelSettings, train: TrainSettings) -> nn.Module:
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    pretrained = model.weights != "none"
    net = maskrcnn_resnet50_fpn_v2(
        weights=None,
        weights_backbone=None,
        num_classes=num_labels,
        rpn_batch_size_per_image=train.rpn_batch_size_per_image,
        box_batch_size_per_image=train.roi_batch_size_per_image,
        box_detections_per_img=model.detections_per_image,
    )
    if pretrained:
        # like detectron2's FREEZE_AT=2: the stem and the first stage keep their pretrained values
        # (torchvision ignores trainable_backbone_layers when it loads no weights itself)
        for name, param in net.backbone.body.named_parameters():
            if name.startswith(("conv1.", "bn1.", "layer1.")):
                param.requires_grad_(False)
        if model.freeze_batchnorm:
            _frozen_batchnorm(net)
    return net


def _cpu_poolers(net: nn.Module) -> None:
    """Swap the ROI heads' poolers for :class:`facade_wwr.engines.roi_align.MultiScaleRoIAlign`: the same
    pooling, several times faster on the CPU (torchvision's kernels still run on a GPU)."""
    for name in ("box_roi_pool", "mask_roi_pool"):
        old = getattr(net.roi_heads, name)
        new = roi_align.MultiScaleRoIAlign(
            old.featmap_names,
            old.output_size,
            old.sampling_ratio,
            canonical_scale=old.canonical_scale,
            canonical_level=old.canonical_level,
        )
        setattr(net.roi_heads, name, new)


class TorchvisionEngine:
    name = "torchvision"

    def default_sizes(self, architecture: str) -> tuple[int, int]:
        self._check(architecture)
        return ARCHITECTURES[architecture]

    def _check(self, architecture: str) -> None:
        if architecture not in ARCHITECTURES:
            raise UserError(
                f"setting model.architecture: {architecture!r} is not a torchvision architecture "
                f"({', '.join(ARCHITECTURES)})"
            )

    def build(self, model: ModelSettings, train: TrainSettings, classes: Sequence[str]) -> nn.Module:
        self._check(model.architecture)
        num_labels = len(classes) + 1  # + background
        build = _small if model.architecture == "maskrcnn_resnet18_fpn_small" else _r50_v2
        net = build(num_labels, model, train)
        net.rpn.head.register_forward_hook(_float32_outputs)  # objectness and anchor deltas
        net.roi_heads.box_predictor.register_forward_hook(_float32_outputs)  # class scores and box deltas
        _cpu_poolers(net)
        if train.roi_balanced_classes:
            roi_sampling.balance_classes(net.roi_heads, len(classes))
        net.rpn.box_similarity = box_iou.box_iou  # anchors against objects: torchvision's numbers, faster
        t = net.transform
        net.transform = _NoResizeTransform(t.min_size, t.max_size, t.image_mean, t.image_std)
        return net

    def load_pretrained(self, module: nn.Module, model: ModelSettings, classes: Sequence[str]) -> list[str]:
        from facade_wwr import weights

        path = weights.resolve(model.weights, self.name, model.architecture, model.weights_dir)
        if path is None:
            return []
        state = weights.load_state_dict(path)
        if model.weights == "imagenet":  # a classification backbone: its tensors live under backbone.body
            state = {f"backbone.body.{k}": v for k, v in state.items() if not k.startswith("fc.")}
        return weights.load_matching(module, state, str(path))

    def losses(self, module: nn.Module, batch: Sequence[Sample], device: torch.device) -> dict[str, torch.Tensor]:
        images = [s.image.to(device, non_blocking=True).float().div_(255.0) for s in batch]
        targets = [
            {
                "boxes": s.boxes.to(device),
                "labels": (s.labels + 1).to(device),
                "masks": s.masks.to(device),
            }
            for s in batch
        ]
        return module(images, targets)

    def set_test_options(self, module: nn.Module, min_score: float, detections_per_image: int) -> None:
        module.roi_heads.score_thresh = float(min_score)
        module.roi_heads.detections_per_img = int(detections_per_image)

    def predict(
        self,
        module: nn.Module,
        images: Sequence[torch.Tensor],
        original_sizes: Sequence[tuple[int, int]],
        device: torch.device,
    ) -> list[RawDetections]:
        """Run the network up to the mask head, skipping torchvision's full-image mask pasting (which would
        hold N x H x W floats per photo); boxes are mapped back to the original photo size."""
        tensors = [im.to(device, non_blocking=True).float().div_(255.0) for im in images]
        batch, _ = module.transform(tensors)
        features = module.backbone(batch.tensors)
        proposals, _ = module.rpn(batch, features)
        detections, _ = module.roi_heads(features, proposals, batch.image_sizes)
        return [
            RawDetections.from_network(
                d["boxes"], d["scores"], d["labels"] - 1, d["masks"][:, 0], size, original, mask_shift=0.5
            )
            for d, size, original in zip(detections, batch.image_sizes, original_sizes)
        ]
