"""Which device a run uses, and mixed precision on it: one place for the choices training and prediction share."""

from __future__ import annotations

import re
from typing import Any

import torch

from facade_wwr.errors import UserError
from facade_wwr.settings import schema


def cpu_has_native_bfloat16() -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512-BF16 or AMX), where a bfloat16 autocast runs the
    small Mask R-CNN's convolutions 1.8x and its training steps 1.2x (2 threads) as fast as float32; elsewhere
    bfloat16 is emulated, so the CPU stays in float32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


#: the autocast dtype of mixed precision per device type: float16 on CUDA, with loss scaling in training
#: (as torchvision's references and detectron2's AMP trainer do); bfloat16 on a CPU that has it natively
#: (the loss scaler runs there too, harmlessly: bfloat16 has float32's range). A CPU without it runs float32:
#: it is not in the table. Tests set ``"cpu"`` themselves to run either path on any CPU (float16 backward
#: passes are about a hundred times slower than bfloat16 ones on a CPU).
AMP_DTYPES: dict[str, torch.dtype] = {"cuda": torch.float16}
if cpu_has_native_bfloat16():
    AMP_DTYPES["cpu"] = torch.bfloat16


def is_device_name(name: str) -> bool:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``: the rule of the ``train.device`` setting, for ``--device`` too."""
    return re.fullmatch(schema()["$defs"]["train"]["properties"]["device"]["pattern"], name) is not None


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


def amp_active(device: torch.device, requested: bool) -> bool:
    """Whether mixed precision is used: asked for, and on a device that has an AMP dtype."""
    return requested and device.type in AMP_DTYPES


def amp_dtype_name(device: torch.device) -> str:
    return str(AMP_DTYPES.get(device.type, torch.float32)).removeprefix("torch.")


def autocast(device: torch.device, active: bool):
    """The autocast context of mixed precision (a no-op when not ``active``)."""
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES.get(device.type), enabled=active)


def restore_cuda_rng(saved: Any, device: torch.device) -> None:
    """Restore the CUDA generator of the card a run trained on into the card it resumes on (the two may
    differ, e.g. ``cuda:1`` then ``cuda:0`` on a node with one GPU); nothing when the run began on the CPU.
    Earlier checkpoints stored every card's state (a list): the state of the card in use is taken."""
    if device.type != "cuda":
        return
    if isinstance(saved, list):  # every card's state: the one of the card in use, if the run had it
        index = device.index if device.index is not None else torch.cuda.current_device()
        saved = saved[index] if index < len(saved) else None
    if isinstance(saved, torch.Tensor) and saved.numel():
        torch.cuda.set_rng_state(saved, device)
