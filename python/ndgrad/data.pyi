# Stub for editors and type checkers: ndgrad.data (kept complete by tests/python/test_package_stubs.py).
from typing import Iterator, Tuple

from ._core import Tensor

DEFAULT_FASHION_MNIST: str

def load_mnist_like(directory: str = ..., train: bool = ...) -> Tuple[Tensor, Tensor]: ...
def batches(inputs: Tensor, labels: Tensor, batch_size: int, shuffle: bool = ..., seed: int = ..., epoch: int = ...) -> Iterator[Tuple[Tensor, Tensor]]: ...
