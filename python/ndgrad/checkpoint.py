"""Resumable training from Python: a model's parameters and buffers, an optimizer's and a
schedule's state, and the epoch and step, in one .npz file (NumPy reads it), written atomically.

The model is a Python ndgrad.nn.Module, so this works over state_dicts (the C++ checkpoint.hpp
works on C++ Modules). Entries: ``model.<name>``, ``optimizer.<library's flat name>``,
``scheduler.<name>``, ``epoch``, ``step``, ``rng.default`` (the default generator's seed and
position: Dropout and ndgrad.rand* draw from it), ``rng.model.<path>`` (the generators of
layers with their own, Dropout(seed=)) and ``extra.<name>`` (numbers the caller adds).
"""

import numbers as _numbers
import os as _os
import tempfile as _tempfile

from . import _core


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=0, step=0, extra=None):
    """Writes the checkpoint to a temporary file next to path, then renames it over path: a
    crash leaves the previous checkpoint whole. path must end in .npz."""
    if not str(path).endswith(".npz"):
        raise ValueError(f"save_checkpoint: path must end in .npz, got {path!r}")
    for name, v in (("epoch", epoch), ("step", step)):
        if not isinstance(v, _numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"save_checkpoint: {name} must be an int, got {type(v).__name__}")
    seed, offset = _core._default_generator_state()
    arrays = {"epoch": _core.tensor(int(epoch), dtype="int64"),
              "step": _core.tensor(int(step), dtype="int64"),
              "rng.default": _core.tensor([_signed(seed), _signed(offset)], dtype="int64")}
    for name, t in model.state_dict().items():
        arrays["model." + name] = t
    if optimizer is not None:
        for name, t in optimizer._flat_state_dict().items():
            arrays["optimizer." + name] = t
    if scheduler is not None:
        for name, t in scheduler._flat_state_dict().items():
            arrays["scheduler." + name] = t
    for where, gen in _generators(model):
        seed, offset = gen.get_state()
        arrays["rng.model." + where] = _core.tensor([_signed(seed), _signed(offset)],
                                                    dtype="int64")
    for name, v in (extra or {}).items():
        if not isinstance(v, _numbers.Number) or isinstance(v, bool):
            raise TypeError(f"save_checkpoint: extra[{name!r}] must be a number")
        arrays["extra." + name] = _core.tensor(v, dtype="int64" if isinstance(
            v, _numbers.Integral) else "float64")
    directory = _os.path.dirname(_os.path.abspath(path))
    fd, tmp = _tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz", dir=directory)
    _os.close(fd)
    try:
        _core.save(tmp, arrays)
        _os.replace(tmp, path)
    except BaseException:
        if _os.path.exists(tmp):
            _os.remove(tmp)
        raise


def load_checkpoint(path, model, optimizer=None, scheduler=None):
    """Restores what save_checkpoint wrote into model (and optimizer, scheduler when given);
    returns {"epoch": int, "step": int, "extra": {name: number}}. Every part is checked before
    any is changed (a ValueError naming the entry); a checkpoint with an optimizer or scheduler
    part that is not given one, or the other way round, is a ValueError."""
    arrays = _core.load(str(path))
    parts = {"model": {}, "optimizer": {}, "scheduler": {}, "extra": {}, "rng": {}}
    for key, t in arrays.items():
        head, _, rest = key.partition(".")
        if head in parts and rest:
            parts[head][rest] = t
        elif key not in ("epoch", "step"):
            raise ValueError(f"load_checkpoint: {path}: unexpected entry {key!r}")
    for key in ("epoch", "step", "rng.default"):
        if key not in arrays:
            raise ValueError(f"load_checkpoint: {path}: no {key!r} entry")
    gens = dict(_generators(model))
    expected = {"default"} | {"model." + w for w in gens}
    if set(parts["rng"]) != expected:
        raise ValueError(f"load_checkpoint: {path}: generator entries "
                         f"{sorted(parts['rng'])}, the model's {sorted(expected)}")
    for name, t in parts["rng"].items():
        if t.shape != (2,) or t.dtype != "int64":
            raise ValueError(f"load_checkpoint: {path}: rng.{name} must be two int64")
    rng = arrays["rng.default"]
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if (obj is None) != (not parts[name]):
            raise ValueError(f"load_checkpoint: {path} has {'a' if parts[name] else 'no'} "
                             f"{name} state, and {'none' if obj is None else 'one'} was given")
    # Checks first: nothing changes unless every part fits.
    _check_model(model, parts["model"])
    if optimizer is not None:
        optimizer._check_flat_state_dict(parts["optimizer"])
    if scheduler is not None:
        scheduler._check_flat_state_dict(parts["scheduler"])
    model.load_state_dict(parts["model"])
    if optimizer is not None:
        optimizer._load_flat_state_dict(parts["optimizer"])
    if scheduler is not None:
        scheduler._load_flat_state_dict(parts["scheduler"])
    seed, offset = (int(v) % 2**64 for v in rng.numpy())
    _core._set_default_generator_state(seed, offset)
    for where, gen in gens.items():
        gen.set_state(*(int(v) % 2**64 for v in parts["rng"]["model." + where].numpy()))
    extra = {k: (int(v.item()) if v.dtype == "int64" else v.item())
             for k, v in parts["extra"].items()}
    return {"epoch": int(arrays["epoch"].item()), "step": int(arrays["step"].item()),
            "extra": extra}


def _generators(model):
    # (module path, generator) of the layers with a generator of their own (Dropout(seed=))
    for path, m in model.named_modules():
        gen = vars(m).get("_generator")
        if gen is not None:
            yield path, gen


def _signed(u):
    # a uint64 as the int64 of the same bits (the .npz holds int64)
    return u - 2**64 if u >= 2**63 else u


def _check_model(model, state):
    own = dict(model.named_parameters())
    own.update(model.named_buffers())
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise _core.ValueError(f"load_checkpoint: model entries missing {missing}, unexpected "
                               f"{unexpected}")
    for name, p in own.items():
        v = state[name]
        if v.shape != p.shape or v.dtype != p.dtype:
            raise _core.ValueError(f"load_checkpoint: model.{name} is {v.shape} {v.dtype}, the "
                                   f"parameter {p.shape} {p.dtype}")
