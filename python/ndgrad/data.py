"""Data sets in the MNIST file format (Fashion-MNIST, MNIST), read by the library."""

from . import _core

DEFAULT_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def load_mnist_like(directory=DEFAULT_FASHION_MNIST, train=True):
    """(images, labels): images (N, 784) float32 pixel values 0..255, labels (N,) int64.

    Reads the IDX files (gzipped or not) of the training or the test split; an unreadable or
    malformed file is an ndgrad.IOError (an OSError) naming it."""
    return _core._load_mnist_like(directory, train)


def batches(inputs, labels, batch_size, shuffle=True, seed=0, epoch=0):
    """The (inputs, labels) batches of one epoch, in a shuffled order of its own per epoch."""
    n = inputs.shape[0]
    if labels.shape[0] != n:
        raise _core.ValueError(f"batches: {n} inputs and {labels.shape[0]} labels")
    if batch_size < 1:
        raise _core.ValueError(f"batches: batch_size must be positive, got {batch_size}")
    if shuffle:
        order = _core.randperm(n, seed=seed * 1_000_003 + epoch)
    else:
        order = _core.arange(n)
    for start in range(0, n, batch_size):
        rows = order[start:start + batch_size]
        yield inputs[rows], labels[rows]
