# Stub for editors and type checkers: ndgrad.checkpoint (kept complete by tests/python/test_package_stubs.py).
from typing import Any, Optional

from .nn import Module
from .optim import Optimizer

def save_checkpoint(path: str, model: Module, optimizer: Optional[Optimizer] = ..., scheduler: Any = ..., epoch: int = ..., step: int = ..., extra: Optional[dict[str, float]] = ...) -> None: ...
def load_checkpoint(path: str, model: Module, optimizer: Optional[Optimizer] = ..., scheduler: Any = ...) -> dict[str, Any]: ...
