"""The Python examples run (examples/python), and the pieces they use."""
import os
import re
import subprocess
import sys

import pytest

import ndgrad as nd
from ndgrad import data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAS_FASHION_MNIST = os.path.isdir(data.DEFAULT_FASHION_MNIST)


@pytest.mark.skipif(not HAS_FASHION_MNIST, reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_mlp_learns_in_one_epoch():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(nd.__file__)))
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "python", "fashion_mnist_mlp.py"),
         "--epochs", "1"], capture_output=True, text=True, env=env, check=True).stdout
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.8, out  # ten classes: chance is 0.1


@pytest.mark.skipif(not HAS_FASHION_MNIST, reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_cnn_learns_in_a_hundred_steps():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(nd.__file__)))
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "python", "fashion_mnist_cnn.py"),
         "--epochs", "1", "--max-steps", "100", "--test-images", "2000"],
        capture_output=True, text=True, env=env, check=True).stdout
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy > 0.7, out


@pytest.mark.skipif(not HAS_FASHION_MNIST, reason="dataset-fashion-mnist is not installed")
def test_load_mnist_like_and_batches():
    x, y = data.load_mnist_like(train=False)
    assert x.shape == (10000, 784) and x.dtype == nd.float32 and y.dtype == nd.int64
    assert 0 <= x.min().item() and x.max().item() <= 255 and set(y.numpy().tolist()) == set(range(10))
    seen = [b[1] for b in data.batches(x[:1000], y[:1000], 300, seed=1)]
    assert [len(b) for b in seen] == [300, 300, 300, 100]
    assert sorted(nd.cat(seen).tolist()) == sorted(y[:1000].tolist())  # each row once
    again = [b[1] for b in data.batches(x[:1000], y[:1000], 300, seed=1)]
    assert all((a == b).all() for a, b in zip(seen, again))  # reproducible
    with pytest.raises(OSError):
        data.load_mnist_like("/nonexistent", train=True)


def test_randperm_and_to_dot():
    p = nd.randperm(50, seed=3)
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    assert nd.randperm(50, seed=3).tolist() == p.tolist()
    a = nd.ones(3, 1, requires_grad=True)
    graph = nd.to_dot((a + nd.ones(1, 4)).sum())
    assert isinstance(graph, str) and graph.startswith("digraph")
    svg = graph._repr_svg_()
    assert svg is None or "<svg" in svg  # drawn when Graphviz is installed
