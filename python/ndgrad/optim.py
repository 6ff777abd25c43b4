"""Optimizers (torch.optim's semantics): the library's, updating the tensors in place.

Each takes an iterable of tensors (``model.parameters()``); ``step()`` updates every one that
has a gradient, ``zero_grad()`` clears the gradients, ``lr`` reads or sets the learning rate.
"""

from . import _core

SGD = _core._SGD
Adam = _core._Adam
AdamW = _core._AdamW
Optimizer = _core._Optimizer

for _cls, _name in ((SGD, "SGD"), (Adam, "Adam"), (AdamW, "AdamW"), (Optimizer, "Optimizer")):
    _cls.__name__ = _name
    _cls.__qualname__ = _name
del _cls, _name
