"""ndgrad.explain_grad (the chain rule for one leaf, edge by edge) and to_dot(gradients=True)."""
import re

import numpy as np
import pytest

import ndgrad


def _t(a):
    return ndgrad.tensor(np.asarray(a, dtype=np.float64))


def test_broadcast_bias_names_the_summed_axis_and_count():
    rng = np.random.default_rng(0)
    x = _t(rng.standard_normal((5, 3))).requires_grad_()
    b = _t(rng.standard_normal(3)).requires_grad_()
    g = rng.standard_normal((5, 3))
    y = x * 2.0 + b
    e = ndgrad.explain_grad(y, b, _t(g))
    assert str(e) == e.text
    (edge,) = [d for d in e.edges if d.op == "add"]
    assert edge.input == 1
    assert edge.summed_axes == [0]
    assert edge.values_summed == 5
    assert edge.shape == (3,) and edge.rule_shape == (5, 3)
    assert "summed over axis [0]: 5 values added into each element" in e.text
    np.testing.assert_allclose(e.grad.numpy(), g.sum(0), rtol=1e-12)
    y.backward(_t(g))
    np.testing.assert_allclose(b.grad.numpy(), e.grad.numpy(), rtol=1e-12)


def test_two_paths_join_and_leave_grad_alone():
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((2, 2))
    x = _t(xv).requires_grad_()
    loss = (x * x).sum()
    e = ndgrad.explain_grad(loss, x)
    assert e.paths == 2
    assert "the sum of steps" in e.text
    np.testing.assert_allclose(e.grad.numpy(), 2 * xv, rtol=1e-12)
    assert x.grad is None


def test_scatter_and_errors():
    rng = np.random.default_rng(2)
    x = _t(rng.standard_normal(4)).requires_grad_()
    loss = x[ndgrad.tensor(np.array([1, 1, 2]))].sum()
    e = ndgrad.explain_grad(loss, x)
    (edge,) = [d for d in e.edges if d.op in ("index", "take")]
    assert (edge.scatter_zero, edge.scatter_one, edge.scatter_many) == (2, 1, 1)
    with pytest.raises(ValueError):
        ndgrad.explain_grad(loss, x * 2.0)
    loss.backward()
    with pytest.raises(ndgrad.AutogradError, match="retain_graph"):
        ndgrad.explain_grad(loss, x)


def test_to_dot_gradient_norms_match_the_gradients():
    rng = np.random.default_rng(3)
    x = _t(rng.standard_normal((4, 3))).requires_grad_()
    b = _t(rng.standard_normal((1, 3))).requires_grad_()
    g = rng.standard_normal((4, 3))
    y = ndgrad.tanh(x @ _t(rng.standard_normal((3, 3))) + b)
    dot = ndgrad.to_dot(y, gradients=True, upstream=_t(g))
    assert isinstance(dot, str)
    assert "||g||" not in ndgrad.to_dot(y)
    y.backward(_t(g))
    for leaf, shape in ((x, r"\(4,3\)"), (b, r"\(1,3\)")):
        m = re.search(r"leaf " + shape + r"\\ngrad \|\|g\|\| ([0-9.e+-]+)", dot)
        assert m, dot
        assert float(m.group(1)) == pytest.approx(np.linalg.norm(leaf.grad.numpy()), rel=1e-5)
    assert "color=red3" in dot  # b's edge: the broadcast over the rows is undone there
