"""Optimizers (torch.optim's semantics): the library's, updating the tensors in place.

Each takes an iterable of tensors (``model.parameters()``); ``step()`` updates every one that
has a gradient, ``zero_grad()`` clears the gradients, ``lr`` reads or sets the learning rate.
"""

from . import _core

SGD = _core._SGD
Adam = _core._Adam
AdamW = _core._AdamW
Optimizer = _core._Optimizer


class lr_scheduler:  # noqa: N801  (a namespace, as torch.optim.lr_scheduler)
    """Learning-rate schedules of closed form (PyTorch's): made, each sets the lr for step 0;
    ``step()`` advances one epoch (or batch) and sets the lr for it."""

    StepLR = _core._StepLR
    MultiStepLR = _core._MultiStepLR
    ExponentialLR = _core._ExponentialLR
    CosineAnnealingLR = _core._CosineAnnealingLR
    CosineWarmupLR = _core._CosineWarmupLR
    LRScheduler = _core._LRScheduler


for _cls, _name in ((SGD, "SGD"), (Adam, "Adam"), (AdamW, "AdamW"), (Optimizer, "Optimizer"),
                    (lr_scheduler.StepLR, "StepLR"), (lr_scheduler.MultiStepLR, "MultiStepLR"),
                    (lr_scheduler.ExponentialLR, "ExponentialLR"),
                    (lr_scheduler.CosineAnnealingLR, "CosineAnnealingLR"),
                    (lr_scheduler.CosineWarmupLR, "CosineWarmupLR"),
                    (lr_scheduler.LRScheduler, "LRScheduler")):
    _cls.__name__ = _name
    _cls.__qualname__ = _name
del _cls, _name
