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
    """In training, zeroes each element with probability p and scales the rest by 1 / (1 - p);
    draws from the default generator, or from one of its own made from seed (whose position
    save_checkpoint keeps)."""

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        self.p = p
        self._generator = None if seed is None else _core._Generator(seed)

    def forward(self, x):
        if self._generator is not None:
            return _core._dropout_with(x, self.p, self.training, self._generator)
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


# --- the remaining layers, losses, initializers and gradient clipping (training.cpp) ---

def _seeded(shape, dtype, kind, a=0.0, b=0.0, seed=0):
    t = _core.zeros(*shape, dtype=dtype)
    return _core._init(kind, t, a, b, "fan_in", seed)


def _conv_params(weight_shape, fan_in, bias, seed, dtype):
    # The library's draw for convolutions: W ~ U(-sqrt(6 / fan_in), sqrt(6 / fan_in)),
    # bias ~ U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)); weight and bias from seeds of their own.
    w = _seeded(weight_shape, dtype, "kaiming_uniform", seed=seed)
    bound = 1.0 / fan_in ** 0.5
    b = _seeded((weight_shape[0] if bias is True else bias,), dtype, "uniform", -bound, bound,
                seed + 0x9E3779B9) if bias else None
    return w.requires_grad_(), (b.requires_grad_() if b is not None else None)


class Conv1d(Module):
    """1-d convolution (cross-correlation) of (B, C, L) inputs; weight (out, in / groups, k)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, seed=0, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv1d: groups {groups} must divide in_channels {in_channels} "
                             f"and out_channels {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = kernel_size
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.weight, self.bias = _conv_params((out_channels, in_channels // groups, kernel_size),
                                              in_channels // groups * kernel_size, bias, seed,
                                              dtype)

    def forward(self, x):
        return _core._conv1d(x, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    """conv2d's gradient as a layer: weight (in, out / groups, kh, kw), PyTorch's layout."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, seed=0, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: groups {groups} must divide in_channels "
                             f"{in_channels} and out_channels {out_channels}")
        kh, kw = _pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, (kh, kw)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.groups, self.dilation = groups, dilation
        self.weight, _ = _conv_params((in_channels, out_channels // groups, kh, kw),
                                      out_channels // groups * kh * kw, False, seed, dtype)
        self.bias = None
        if bias:
            bound = 1.0 / (out_channels // groups * kh * kw) ** 0.5
            self.bias = _seeded((out_channels,), dtype, "uniform", -bound, bound,
                                seed + 0x9E3779B9).requires_grad_()

    def forward(self, x):
        return _core._conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                       self.output_padding, self.groups, self.dilation)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")


class AdaptiveAvgPool2d(Module):
    """Averages (B, C, H, W) into (B, C) + output_size cells (PyTorch's windows)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return _core._adaptive_avg_pool2d(x, self.output_size)


class MaxPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.args = (kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x):
        return _core._max_pool1d(x, *self.args)


class AvgPool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.args = (kernel_size, stride, padding, ceil_mode, count_include_pad)

    def forward(self, x):
        return _core._avg_pool1d(x, *self.args)


class LayerNorm(Module):
    """Normalizes over the last axes (normalized_shape); weight ones, bias zeros."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
            normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = _core.ones(*shape, dtype=dtype, requires_grad=True) if elementwise_affine \
            else None
        self.bias = _core.zeros(*shape, dtype=dtype, requires_grad=True) if elementwise_affine \
            else None

    def forward(self, x):
        return _core._layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class GroupNorm(Module):
    """Normalizes (B, C, ...) over groups of C / num_groups channels; per-channel affine."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups {num_groups} must divide num_channels "
                             f"{num_channels}")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.weight = _core.ones(num_channels, dtype=dtype, requires_grad=True) if affine else None
        self.bias = _core.zeros(num_channels, dtype=dtype, requires_grad=True) if affine else None

    def forward(self, x):
        return _core._group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}"


class Embedding(Module):
    """Rows of weight (num_embeddings, embedding_dim) ~ N(0, 1) by index; the padding_idx row
    starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, seed=0, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is outside "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        w = _seeded((num_embeddings, embedding_dim), dtype, "normal", 0.0, 1.0, seed)
        if padding_idx is not None:
            w[padding_idx] = 0
        self.weight = w.requires_grad_()

    def forward(self, indices):
        return _core._embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}, padding_idx={self.padding_idx}"


def _cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                   label_smoothing=0.0):
    """Cross-entropy of logits (B, C) or (B, C, d...) against class indices (PyTorch's options:
    weight per class, ignore_index, reduction 'none'/'mean'/'sum', label_smoothing)."""
    if weight is None and ignore_index == -100 and reduction == "mean" and not label_smoothing \
            and input.ndim == 2:
        return _core._cross_entropy(input, _core.tensor(target))  # the fused path
    return _core._cross_entropy_full(input, target, weight, ignore_index, reduction,
                                     label_smoothing)


def _mse_loss(input, target, reduction="mean"):
    """The squared differences, reduced ('none', 'mean', 'sum'); a target that requires grad
    gets its gradient (ndgrad.tensor(target) would detach it)."""
    return _core._mse_loss_full(input, target, reduction)


functional.cross_entropy = staticmethod(_cross_entropy)
functional.mse_loss = staticmethod(_mse_loss)
functional.nll_loss = staticmethod(_core._nll_loss)
functional.binary_cross_entropy = staticmethod(_core._binary_cross_entropy)
functional.binary_cross_entropy_with_logits = staticmethod(
    _core._binary_cross_entropy_with_logits)
functional.l1_loss = staticmethod(_core._l1_loss)
functional.smooth_l1_loss = staticmethod(_core._smooth_l1_loss)
functional.huber_loss = staticmethod(_core._huber_loss)
functional.kl_div = staticmethod(_core._kl_div)
functional.conv1d = staticmethod(_core._conv1d)
functional.conv_transpose2d = staticmethod(_core._conv_transpose2d)
functional.adaptive_avg_pool2d = staticmethod(_core._adaptive_avg_pool2d)
functional.max_pool1d = staticmethod(_core._max_pool1d)
functional.avg_pool1d = staticmethod(_core._avg_pool1d)
functional.layer_norm = staticmethod(_core._layer_norm)
functional.group_norm = staticmethod(_core._group_norm)
functional.embedding = staticmethod(_core._embedding)


class _Loss(Module):
    _fn = None

    def __init__(self, reduction="mean", **options):
        super().__init__()
        if reduction not in ("none", "mean", "sum") + (
                ("batchmean",) if type(self).__name__ == "KLDivLoss" else ()):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', "
                             f"got {reduction!r}")
        self.reduction, self.options = reduction, options

    def forward(self, input, target):
        return type(self)._fn(input, target, reduction=self.reduction, **self.options)


class CrossEntropyLoss(_Loss):
    _fn = staticmethod(_cross_entropy)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction, ignore_index=ignore_index, label_smoothing=label_smoothing)
        self.weight = weight  # a tensor without grad: not a parameter

    def forward(self, input, target):
        return _cross_entropy(input, target, self.weight, reduction=self.reduction,
                              **self.options)


class NLLLoss(_Loss):
    _fn = staticmethod(_core._nll_loss)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction, ignore_index=ignore_index)
        self.weight = weight

    def forward(self, input, target):
        return _core._nll_loss(input, target, self.weight, reduction=self.reduction,
                               **self.options)


class MSELoss(_Loss):
    _fn = staticmethod(_mse_loss)


class L1Loss(_Loss):
    _fn = staticmethod(_core._l1_loss)


class SmoothL1Loss(_Loss):
    _fn = staticmethod(_core._smooth_l1_loss)

    def __init__(self, reduction="mean", beta=1.0):
        super().__init__(reduction, beta=beta)


class HuberLoss(_Loss):
    _fn = staticmethod(_core._huber_loss)

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction, delta=delta)


class KLDivLoss(_Loss):
    _fn = staticmethod(_core._kl_div)

    def __init__(self, reduction="mean", log_target=False):
        super().__init__(reduction, log_target=log_target)


class BCELoss(_Loss):
    _fn = staticmethod(_core._binary_cross_entropy)

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.weight = weight

    def forward(self, input, target):
        return _core._binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    _fn = staticmethod(_core._binary_cross_entropy_with_logits)

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        return _core._binary_cross_entropy_with_logits(input, target, self.weight,
                                                       self.reduction, self.pos_weight)


def _check_tensor(t, op):
    if not isinstance(t, Tensor):
        raise TypeError(f"nn.init.{op}: expected a tensor, got a {type(t).__name__}")
    return t


class init:  # noqa: N801  (a namespace, as torch.nn.init)
    """torch.nn.init's initializers, in place (not recorded by autograd); seed=None draws from
    the default generator (ndgrad.manual_seed), an int from a generator of that seed. fan_in of
    a 2-d tensor is its number of rows (Linear's (in, out) layout; PyTorch's (out, in) has it
    in the columns); of a convolution weight (out, in, k...), in * k...."""

    @staticmethod
    def zeros_(tensor):
        return _core._init("zeros", _check_tensor(tensor, "zeros_"))

    @staticmethod
    def ones_(tensor):
        return _core._init("ones", _check_tensor(tensor, "ones_"))

    @staticmethod
    def constant_(tensor, val):
        return _core._init("constant", _check_tensor(tensor, "constant_"), float(val))

    @staticmethod
    def uniform_(tensor, a=0.0, b=1.0, seed=None):
        return _core._init("uniform", _check_tensor(tensor, "uniform_"), a, b, seed=seed)

    @staticmethod
    def normal_(tensor, mean=0.0, std=1.0, seed=None):
        return _core._init("normal", _check_tensor(tensor, "normal_"), mean, std, seed=seed)

    @staticmethod
    def xavier_uniform_(tensor, gain=1.0, seed=None):
        return _core._init("xavier_uniform", _check_tensor(tensor, "xavier_uniform_"), gain,
                           seed=seed)

    @staticmethod
    def xavier_normal_(tensor, gain=1.0, seed=None):
        return _core._init("xavier_normal", _check_tensor(tensor, "xavier_normal_"), gain,
                           seed=seed)

    @staticmethod
    def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", seed=None):
        return _core._init("kaiming_uniform", _check_tensor(tensor, "kaiming_uniform_"),
                           _core._kaiming_slope(nonlinearity, a), mode=mode, seed=seed)

    @staticmethod
    def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", seed=None):
        return _core._init("kaiming_normal", _check_tensor(tensor, "kaiming_normal_"),
                           _core._kaiming_slope(nonlinearity, a), mode=mode, seed=seed)

    @staticmethod
    def orthogonal_(tensor, gain=1.0, seed=None):
        return _core._init("orthogonal", _check_tensor(tensor, "orthogonal_"), gain, seed=seed)


class utils:  # noqa: N801  (a namespace, as torch.nn.utils)
    @staticmethod
    def clip_grad_norm_(parameters, max_norm, norm_type=2.0):
        """Scales every gradient by max_norm / (total norm + 1e-6) when that is below 1;
        returns the total norm before clipping (a float; 0.0 for no parameters, as PyTorch).
        norm_type: a p, or inf."""
        params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
        return _core._clip_grad_norm_(params, max_norm, norm_type) if params else 0.0

    @staticmethod
    def clip_grad_value_(parameters, clip_value):
        """Clamps every gradient element to [-clip_value, clip_value], in place."""
        params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
        if params:
            _core._clip_grad_value_(params, clip_value)


# --- PyTorch's layouts: torch_state_dict / load_torch_state_dict ---

def _torch_entries(module):
    """(name, tensor, transposed): the state_dict's entries, Linear's weight marked (its layout is
    (in, out) here and (out, in) in PyTorch; every other layout is PyTorch's)."""
    modules = dict(module.named_modules())
    for name, t in module.state_dict().items():
        owner, _, own = name.rpartition(".")
        yield name, t, isinstance(modules.get(owner), Linear) and own == "weight"


def _torch_state_dict(self):
    """The state_dict in PyTorch's layouts (Linear's weight transposed to (out, in)): what a
    PyTorch model of the same structure loads (after torch.from_numpy of each array)."""
    return _OrderedDict((n, t.T.contiguous() if tr else t) for n, t, tr in _torch_entries(self))


def _load_torch_state_dict(self, state):
    """Loads a PyTorch state_dict (tensors or NumPy arrays by name, e.g. {k: v.numpy()}), with
    load_state_dict's checks (names, shapes, dtypes) on the converted values."""
    converted = dict(state)
    for name, _, transposed in _torch_entries(self):
        if transposed and name in converted:
            v = _core.tensor(converted[name])
            if v.ndim != 2:
                raise _core.ValueError(f"load_torch_state_dict: {name} is {v.shape}, not a matrix")
            converted[name] = v.T.contiguous()
    self.load_state_dict(converted)


Module.torch_state_dict = _torch_state_dict
Module.load_torch_state_dict = _load_torch_state_dict
