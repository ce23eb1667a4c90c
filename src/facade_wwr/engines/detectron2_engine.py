"""The detectron2 engine: the tutorial's library, selected with ``model.engine: detectron2``.

``model.architecture`` is a detectron2 model-zoo config name (the tutorial used
``COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml``). The network is detectron2's own
(``build_model`` on that config); training runs through facade-wwr's loop, so the tutorial's settings map
onto ``train.base_lr``, ``train.max_iter``, ``train.ims_per_batch`` and ``train.roi_batch_size_per_image``,
and the score threshold is applied in analysis (prediction keeps every instance above the floor). Photos
are resized outside the network like for torchvision, fed as BGR 0-255 (the zoo's ``INPUT.FORMAT``), and
the mask head's 28 x 28 probabilities are pasted by facade-wwr, so both engines write the same files.
Category ids need no shift: detectron2 numbers classes from 0 like the COCO files do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from facade_wwr.engines import RawDetections, Sample
from facade_wwr.errors import UserError
from facade_wwr.settings import ModelSettings, TrainSettings


def _config(model: ModelSettings, train: TrainSettings | None, num_classes: int) -> Any:
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    cfg = get_cfg()
    try:
        cfg.merge_from_file(model_zoo.get_config_file(model.architecture))
    except RuntimeError:
        raise UserError(
            f"setting model.architecture: {model.architecture!r} is not a detectron2 model-zoo config "
            "(e.g. COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml)"
        ) from None
    if not cfg.MODEL.MASK_ON:
        raise UserError(f"setting model.architecture: {model.architecture} has no mask head (choose a Mask R-CNN)")
    cfg.MODEL.DEVICE = "cpu"  # the training loop or the predictor moves it
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = num_classes
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.05
    cfg.TEST.DETECTIONS_PER_IMAGE = model.detections_per_image
    if train is not None:
        if train.roi_balanced_classes:
            raise UserError(
                "setting train.roi_balanced_classes: true is for the torchvision engine; detectron2 draws "
                "its ROIs at random (set it to false)"
            )
        cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = train.roi_batch_size_per_image
        cfg.MODEL.RPN.BATCH_SIZE_PER_IMAGE = train.rpn_batch_size_per_image
    if model.weights == "none":
        cfg.MODEL.BACKBONE.FREEZE_AT = 0  # nothing pretrained to keep
    if model.weights == "none" or not model.freeze_batchnorm:
        # the zoo's FrozenBN keeps pretrained statistics; on a random init it is the identity, so nothing
        # would normalise the backbone (a ResNet-50 from scratch then starts at a loss of ~200, not ~3)
        cfg.MODEL.RESNETS.NORM = "BN"
    return cfg


class Detectron2Engine:
    name = "detectron2"

    def default_sizes(self, architecture: str) -> tuple[int, int]:
        cfg = _config(ModelSettings(engine=self.name, architecture=architecture, weights="none"), None, 1)
        return int(cfg.INPUT.MIN_SIZE_TEST), int(cfg.INPUT.MAX_SIZE_TEST)

    def build(self, model: ModelSettings, train: TrainSettings, classes: Sequence[str]) -> nn.Module:
        from detectron2.modeling import build_model

        cfg = _config(model, train, len(classes))
        net = build_model(cfg)
        net.facade_wwr_format = cfg.INPUT.FORMAT  # RGB or BGR, as the zoo weights expect
        return net

    def load_pretrained(self, module: nn.Module, model: ModelSettings, classes: Sequence[str]) -> list[str]:
        from facade_wwr import weights

        path = weights.resolve(model.weights, self.name, model.architecture, model.weights_dir)
        if path is None:
            return []
        if path.suffix == ".pkl":  # the model zoo's format is a pickle: leave it to detectron2's own reader
            from detectron2.checkpoint import DetectionCheckpointer

            DetectionCheckpointer(module).load(str(path))
            return [f"loaded {path} with detectron2's checkpointer (heads of another shape keep their random init)"]
        return weights.load_matching(module, weights.load_state_dict(path), str(path))

    @staticmethod
    def _image(module: nn.Module, image: torch.Tensor) -> torch.Tensor:
        image = image.float()
        return image[[2, 1, 0]] if getattr(module, "facade_wwr_format", "BGR") == "BGR" else image

    def losses(self, module: nn.Module, batch: Sequence[Sample], device: torch.device) -> dict[str, torch.Tensor]:
        from detectron2.structures import BitMasks, Boxes, Instances
        from detectron2.utils.events import EventStorage

        inputs = []
        for s in batch:
            h, w = s.image.shape[-2:]
            inst = Instances((h, w))
            inst.gt_boxes = Boxes(s.boxes.float())
            inst.gt_classes = s.labels.long()
            inst.gt_masks = BitMasks(s.masks.bool())
            inputs.append({"image": self._image(module, s.image), "instances": inst})
        with EventStorage():  # detectron2's heads log training statistics into one; we keep our own logs
            return module(inputs)

    def set_test_options(self, module: nn.Module, min_score: float, detections_per_image: int) -> None:
        predictor = module.roi_heads.box_predictor
        predictor.test_score_thresh = float(min_score)
        predictor.test_topk_per_image = int(detections_per_image)

    def predict(
        self,
        module: nn.Module,
        images: Sequence[torch.Tensor],
        original_sizes: Sequence[tuple[int, int]],
        device: torch.device,
    ) -> list[RawDetections]:
        inputs = [{"image": self._image(module, im.to(device))} for im in images]
        results = module.inference(inputs, do_postprocess=False)  # masks stay 28 x 28 probabilities
        return [
            RawDetections.from_network(
                r.pred_boxes.tensor,
                r.scores,
                r.pred_classes,
                r.pred_masks[:, 0],
                tuple(im.shape[-2:]),
                original,
                mask_shift=0.0,  # BitMasks.crop_and_resize: RoIAlign aligned=True
            )
            for r, im, original in zip(results, images, original_sizes)
        ]
