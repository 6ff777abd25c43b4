"""Neural-network modules written in Python over ndgrad's tensors.

A Module's parameters are found by attribute, as PyTorch's are: every attribute that is a
tensor requiring grad is a parameter (``Parameter(data)`` makes one), every attribute that is a
Module a submodule, and lists or tuples of either count too. Subclass Module and write
``forward``. Linear keeps the library's layout: ``y = x @ weight + bias`` with weight (in, out).
"""

import builtins as _builtins
from collections import OrderedDict as _OrderedDict

from . import _core
from ._core import Tensor


def Parameter(data, dtype=None):
    """A tensor that requires grad: what a Module counts as a parameter."""
    t = _core.tensor(data, dtype=dtype)
    if t.grad_fn is not None:
        t = t.detach()
    return t.requires_grad_()


class Module:
    """The base of every module: parameters and submodules found by attribute."""

    def __init__(self):
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def register_buffer(self, name, tensor):
        """A tensor the module keeps and saves without training it (running statistics)."""
        if "_buffer_names" not in vars(self):
            object.__setattr__(self, "_buffer_names", [])
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, tensor)

    def named_buffers(self, prefix=""):
        for path, module in self.named_modules(prefix):
            for name in vars(module).get("_buffer_names", []):
                yield (f"{path}.{name}" if path else name), getattr(module, name)

    # --- what a module holds, by attribute ---
    def _items(self):
        # Attributes in the order they were set; lists and tuples of modules or tensors are
        # named "attr.0", "attr.1", ...
        for name, value in vars(self).items():
            if isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, (Module, Tensor)):
                        yield f"{name}.{i}", v
            elif isinstance(value, (Module, Tensor)):
                yield name, value

    def named_children(self):
        for name, value in self._items():
            if isinstance(value, Module):
                yield name, value

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix="", memo=None):
        """(dotted name, module) for this module and every submodule, each module once (a
        module kept under two names, or one that refers back to its parent, included)."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, tensor) for every parameter, each tensor once."""
        seen = set()
        for path, module in self.named_modules(prefix) if recurse else [(prefix, self)]:
            for name, value in module._items():
                if isinstance(value, Tensor) and value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{path}.{name}" if path else name), value

    def parameters(self, recurse=True):
        return [p for _, p in self.named_parameters(recurse=recurse)]

    def state_dict(self):
        """Every parameter and buffer by dotted name, detached (sharing memory)."""
        entries = list(self.named_parameters()) + list(self.named_buffers())
        return _OrderedDict((n, p.detach()) for n, p in entries)

    def load_state_dict(self, state):
        """Copies the values of state (tensors or arrays by name) into the parameters.

        Every name, shape and dtype is checked before anything is written."""
        own = dict(self.named_parameters())
        own.update(self.named_buffers())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise _core.ValueError(f"load_state_dict: missing {missing}, unexpected {unexpected}")
        values = {}
        for name, p in own.items():
            v = _core.tensor(state[name])
            if v.shape != p.shape or v.dtype != p.dtype:
                raise _core.ValueError(
                    f"load_state_dict: {name} is {v.shape} {v.dtype}, the parameter "
                    f"{p.shape} {p.dtype}")
            values[name] = v
        with _core._GradModeScope(False):
            for name, p in own.items():
                p.copy_(values[name])

    def save(self, path):
        """Saves the parameters as .npz, by dotted name (np.load reads it)."""
        _core.save(path, dict(self.state_dict()))

    def load(self, path):
        """Loads parameters saved by save() (load_state_dict's checks)."""
        self.load_state_dict(_core.load(path))

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", _builtins.bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def __repr__(self):
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ")
                 for name, child in self.named_children()]
        inner = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({inner})"
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def extra_repr(self):
        return ""


class Linear(Module):
    """y = x @ weight + bias, weight (in_features, out_features) drawn as the C++ Linear's."""

    def __init__(self, in_features, out_features, bias=True, seed=0, dtype=None):
        super().__init__()
        weight, b = _core._linear_init(in_features, out_features, seed, dtype)
        self.in_features, self.out_features = in_features, out_features
        self.weight = weight.requires_grad_()
        self.bias = b.requires_grad_() if bias else None

    def forward(self, x):
        y = x @ self.weight
        return y + self.bias if self.bias is not None else y

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class Conv2d(Module):
    """2-d convolution (cross-correlation) of (B, C, H, W) images, PyTorch's weight layout
    (out, in / groups, kh, kw), drawn as the C++ Conv2d's."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, seed=0, dtype=None):
        super().__init__()
        weight, b = _core._conv2d_init(in_channels, out_channels, kernel_size, groups, bias, seed,
                                       dtype)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), stride, dilation
        self.padding, self.groups = padding, groups
        self.weight = weight.requires_grad_()
        self.bias = b.requires_grad_() if b is not None else None

    def forward(self, x):
        return _core._conv2d(x, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.args = (kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        return _core._max_pool2d(x, *self.args)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad)

    def forward(self, x):
        return _core._avg_pool2d(x, *self.args)


class Flatten(Module):
    """Flattens the axes from start_dim on (the batch axis kept, by default)."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return x.reshape(*x.shape[:self.start_dim], -1)


class _BatchNorm(Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = _core.ones(num_features, dtype=dtype, requires_grad=True) if affine else None
        self.bias = _core.zeros(num_features, dtype=dtype, requires_grad=True) if affine else None
        self.register_buffer("running_mean", _core.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", _core.ones(num_features, dtype=dtype))

    def forward(self, x):
        return _core._batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                 self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (B, C) or (B, C, L) inputs per channel; running statistics as
    buffers (train(): the batch's, updating them; eval(): theirs)."""


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (B, C, H, W) images per channel (see BatchNorm1d)."""


class Dropout(Module):
    """In training, zeroes each element with probability p and scales the rest by 1 / (1 - p)."""

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        return _core._dropout(x, self.p, self.training)


class ReLU(Module):
    def forward(self, x):
        return _core.relu(x)


class Tanh(Module):
    def forward(self, x):
        return _core.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return _core.sigmoid(x)


class Identity(Module):
    def forward(self, x):
        return x


class Sequential(Module):
    """Applies its modules in order; they are named "0", "1", ... (PyTorch's names)."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self):
        return len(list(self.named_children()))

    def __getitem__(self, i):
        return self.children()[i]

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules, each a submodule ("0", "1", ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, m):
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: a {type(m).__name__} is not a Module")
        setattr(self, str(len(self)), m)

    def __len__(self):
        return len(list(self.named_children()))

    def __getitem__(self, i):
        return self.children()[i]

    def __iter__(self):
        return iter(self.children())


class functional:  # noqa: N801  (a namespace, as torch.nn.functional)
    relu = staticmethod(_core.relu)
    tanh = staticmethod(_core.tanh)
    sigmoid = staticmethod(_core.sigmoid)
    softmax = staticmethod(_core.softmax)
    log_softmax = staticmethod(_core.log_softmax)
    leaky_relu = staticmethod(_core.leaky_relu)
    gelu = staticmethod(_core.gelu)
    conv2d = staticmethod(_core._conv2d)
    max_pool2d = staticmethod(_core._max_pool2d)
    batch_norm = staticmethod(_core._batch_norm)
    dropout = staticmethod(_core._dropout)
    avg_pool2d = staticmethod(_core._avg_pool2d)

    @staticmethod
    def cross_entropy(logits, labels):
        """The mean cross-entropy of logits (B, C) against integer labels (B,)."""
        return _core._cross_entropy(logits, _core.tensor(labels))

    @staticmethod
    def mse_loss(prediction, target):
        """The mean of the squared differences."""
        return _core._mse_loss(prediction, _core.tensor(target))


F = functional
