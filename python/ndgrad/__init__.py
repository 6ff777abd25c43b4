"""ndgrad: tensors with NumPy broadcasting and reverse-mode automatic differentiation.

The C++ library (ndgrad._core) does the work; this package adds the pieces that read best in
Python: grad-mode context managers and module-level spellings of the tensor methods.
docs/PYTHON.md describes the API, what is shared with NumPy and what is copied.
"""

import builtins as _builtins
import functools as _functools

from . import _core
from ._core import *  # noqa: F401,F403  (Tensor, dtypes, errors, factories, op-table functions)
from ._core import Tensor, is_grad_enabled

__version__ = _core.__version__  # the C++ library's: project(VERSION) in CMakeLists.txt

from . import checkpoint, data, nn, optim  # noqa: E402  (they import _core themselves)
from .checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


class DotGraph(str):
    """Graphviz DOT source (a str) that a notebook shows as the drawn graph when Graphviz's
    ``dot`` is installed."""

    def _repr_svg_(self):
        import shutil
        import subprocess

        dot = shutil.which("dot")
        if dot is None:
            return None  # the notebook shows the text instead
        return subprocess.run([dot, "-Tsvg"], input=self.encode(), capture_output=True,
                              check=True).stdout.decode()


def to_dot(output, gradients=False, upstream=None):
    """The graph recorded behind output as Graphviz DOT: a node per op, each edge labelled with
    the shape that flows along it and the axes a gradient is summed over.

    gradients=True runs a backward pass of its own over the graph (which must still be there:
    before backward, or after backward(retain_graph=True)), seeded with upstream (ones when
    None), and labels each edge with ||g||, the norm of the gradient it hands its input; edges
    where broadcasting is undone are red, with the norm before and after the sum. No .grad
    changes."""
    if gradients:
        return DotGraph(_core._to_dot_gradients(output, upstream))
    return DotGraph(_core.to_dot(output))


class _GradMode:
    """A context manager and decorator that sets grad mode on this thread while active."""

    _enabled = False

    def __init__(self):
        self._scopes = []

    def __enter__(self):
        scope = _core._GradModeScope(self._enabled)
        scope.__enter__()
        self._scopes.append(scope)  # a stack: the same object may be entered again when nested
        return self

    def __exit__(self, *exc):
        self._scopes.pop().__exit__(*exc)
        return False

    def __call__(self, fn):
        @_functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapped


class no_grad(_GradMode):
    """``with ndgrad.no_grad():`` records no graph inside (also a function decorator)."""

    _enabled = False


class enable_grad(_GradMode):
    """``with ndgrad.enable_grad():`` records a graph inside, even within no_grad."""

    _enabled = True


class set_grad_enabled(_GradMode):
    """``with ndgrad.set_grad_enabled(flag):`` sets grad mode to flag inside."""

    def __init__(self, mode):
        super().__init__()
        self._enabled = _builtins.bool(mode)

    def __call__(self, fn):
        mode = self._enabled

        @_functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapped


def _rebuild(values, dtype, requires_grad):
    return tensor(values, dtype=dtype, requires_grad=requires_grad)  # noqa: F405


def _reduce(self):
    # Pickled as a NumPy copy of the values (bfloat16 through float32, exact), the dtype's name
    # and requires_grad; the graph and .grad are not kept (PyTorch keeps .grad).
    return (_rebuild, (self.detach().numpy().copy(), str(self.dtype), self.requires_grad))


Tensor.__reduce__ = _reduce


def _as_tensor(x):
    return x if isinstance(x, Tensor) else tensor(x)  # noqa: F405


def as_tensor(data, dtype=None):
    """data itself when it is a Tensor of that dtype, else a tensor sharing its memory when it
    can (a NumPy array as from_numpy)."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    return tensor(data, dtype=dtype)  # noqa: F405


asarray = as_tensor


# Module-level spellings of the methods: ndgrad.sum(x, axis=1) is x.sum(axis=1), with x any
# tensor-like (a Tensor, a NumPy array, nested lists, a number).
def _method(name, doc=None):
    def f(x, *args, **kwargs):
        return getattr(_as_tensor(x), name)(*args, **kwargs)

    f.__name__ = name
    f.__qualname__ = name
    f.__doc__ = doc or f"ndgrad.{name}(x, ...) is x.{name}(...)."
    return f


for _name in (
    "sum", "mean", "max", "min", "amax", "amin", "prod", "var", "std", "argmax", "argmin",
    "any", "all", "nansum", "nanmean", "count_nonzero", "logsumexp", "cumsum", "cumprod", "norm",
    "reshape", "transpose", "permute", "squeeze", "unsqueeze", "broadcast_to", "flatten",
    "ravel", "flip", "clamp", "clip", "detach",
):
    globals()[_name] = _method(_name)
del _name


def expand_dims(x, axis):
    """NumPy's name for unsqueeze."""
    return _as_tensor(x).unsqueeze(axis)


def numel(x):
    return _as_tensor(x).numel()


def zeros_like(x, dtype=None, requires_grad=False):
    x = _as_tensor(x)
    return zeros(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)  # noqa: F405


def ones_like(x, dtype=None, requires_grad=False):
    x = _as_tensor(x)
    return ones(x.shape, dtype=dtype or x.dtype, requires_grad=requires_grad)  # noqa: F405


def full_like(x, fill_value, dtype=None, requires_grad=False):
    x = _as_tensor(x)
    return full(x.shape, fill_value, dtype=dtype or x.dtype,  # noqa: F405
                requires_grad=requires_grad)


# `from ndgrad import *` leaves Python's own IndexError, ValueError, MemoryError, IOError and
# bool alone (ndgrad's errors subclass them: catching the built-in ones catches ndgrad's).
__all__ = [
    _n for _n in globals()
    if not _n.startswith("_")
    and _n not in ("IndexError", "ValueError", "MemoryError", "IOError", "bool", "sum", "max",
                   "min", "any", "all", "abs", "round")
]

# ndgrad.linalg is the core's submodule; registered so that `import ndgrad.linalg` finds it.
import sys as _sys  # noqa: E402

from ._core import linalg  # noqa: E402,F401

_sys.modules[__name__ + ".linalg"] = linalg
