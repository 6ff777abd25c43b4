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


# --- RMSprop, Adagrad, one-cycle and plateau schedules (the library's, bound in training.cpp) ---
RMSprop = _core._RMSprop
Adagrad = _core._Adagrad
lr_scheduler.ReduceLROnPlateau = _core._ReduceLROnPlateau


def _one_cycle(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
               pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
               max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """The 1cycle policy (torch.optim.lr_scheduler.OneCycleLR), stepped once a batch: total_steps,
    or epochs * steps_per_epoch. max_lr is one float for every group."""
    if total_steps is None:
        if epochs is None or steps_per_epoch is None:
            raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
        total_steps = epochs * steps_per_epoch
    elif epochs is not None or steps_per_epoch is not None:
        raise ValueError("OneCycleLR: give total_steps or epochs and steps_per_epoch, not both")
    if isinstance(max_lr, (list, tuple)):
        raise TypeError("OneCycleLR: max_lr must be one float (per-group lists are not supported)")
    return _core._OneCycleLR(optimizer, max_lr, total_steps, pct_start, anneal_strategy,
                             cycle_momentum, base_momentum, max_momentum, div_factor,
                             final_div_factor, three_phase)


class _OneCycleMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _core._OneCycleLR)


class OneCycleLR(metaclass=_OneCycleMeta):
    """The 1cycle policy (PyTorch's OneCycleLR): made with total_steps or epochs and
    steps_per_epoch; an instance is the library's schedule (step(), get_last_lr(), state_dict())."""

    def __new__(cls, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                **kwargs):
        return _one_cycle(optimizer, max_lr, total_steps, epochs, steps_per_epoch, **kwargs)


lr_scheduler.OneCycleLR = OneCycleLR

for _cls, _name in ((RMSprop, "RMSprop"), (Adagrad, "Adagrad"),
                    (lr_scheduler.ReduceLROnPlateau, "ReduceLROnPlateau"),
                    (_core._OneCycleLR, "OneCycleLR")):
    _cls.__name__ = _name
    _cls.__qualname__ = _name
del _cls, _name

del OneCycleLR  # (lr_scheduler.OneCycleLR, as torch.optim.lr_scheduler)
