"""ndgrad.gradcheck_broadcasting: a Python function checked over the broadcast-compatible
variants of its input shapes; a CustomOp with a wrong backward is caught by the variants that
expose it."""
import math

import pytest

import ndgrad as nd


def test_correct_composite_passes_every_variant():
    r = nd.gradcheck_broadcasting(lambda x, b, c: nd.tanh(x * b + c).sum(-1),
                                  [(2, 2, 3), (3,), (2, 1)])
    assert r, r.report
    assert r.ok and r.failed == 0
    assert r.passed >= 20
    kinds = [v.kind for v in r.variants]
    assert "as given" in kinds and "distinct sizes" in kinds and "equal sizes" in kinds
    assert any("-> 1" in k for k in kinds) and any("drops" in k for k in kinds)
    assert r.report.startswith("gradcheck_broadcasting passed")


def wrong_mul():
    # The gradient of b summed down by flattening the leading axes: right while b's shape is a
    # trailing part of the result's, wrong for a size-1 axis inside it.
    def backward(inputs, output, grad):
        a, b = inputs
        n = math.prod(b.shape)
        return grad * b, (grad * a).reshape(-1, n).sum(0).reshape(b.shape)
    return nd.CustomOp("flat_mul", lambda a, b: a * b, backward)


def test_custom_op_with_a_wrong_backward_is_caught():
    op = wrong_mul()
    assert nd.gradcheck(lambda a, b: op(a, b), [nd.randn(2, 3, dtype=nd.float64),
                                               nd.randn(2, 3, dtype=nd.float64)])
    r = nd.gradcheck_broadcasting(lambda a, b: op(a, b), [(2, 3), (2, 3)])
    assert not r
    assert r.failed > 0
    failing = [v for v in r.variants if v.status == "failed"]
    assert len(failing) == r.failed
    for v in failing:
        assert v.failing_inputs == [1], v
        assert v.max_abs_error > 1e-3
        b = v.shapes[1]
        assert len(b) == 2 and b[1] == 1 and v.shapes[0][1] != 1, v  # b (n, 1) against (., m)
    for v in r.variants:
        if v.kind in ("as given", "distinct sizes", "equal sizes") or "drops" in v.kind:
            assert v.status == "passed", v
    assert "FAILED shapes (2,3), (2,1)" in r.report
    assert "input 1 (2,1): max abs error" in r.report


def test_axes_form_spells_axes_both_ways_with_keepdims():
    seen = set()

    def f(x, axis, keepdims):
        seen.add((axis, keepdims))
        return (x * x).sum(axis, keepdims)

    r = nd.gradcheck_broadcasting(f, [(2, 3, 4)], axes=[0, (2, 1)])
    assert r, r.report
    assert ((0,), False) in seen and ((-3,), True) in seen
    assert ((2, 1), False) in seen and ((-2, -1), True) in seen
    assert ((1, 0), False) in seen  # (2, 1) on a variant of rank 2
    assert all(v.axis is not None and v.keepdims is not None for v in r.variants)
    with pytest.raises(nd.AxisError, match="gradcheck_broadcasting"):
        nd.gradcheck_broadcasting(f, [(2, 3)], axes=[5])


def test_shapes_f_rejects_are_skipped_and_errors_propagate():
    r = nd.gradcheck_broadcasting(lambda a, b: a @ b, [(3, 4), (4, 2)])
    assert r and r.skipped > 0
    assert all(v.status != "failed" for v in r.variants)
    assert "skipped shapes" in r.report
    with pytest.raises(nd.ShapeError, match="rejects the shapes as given"):
        nd.gradcheck_broadcasting(lambda a, b: a @ b, [(3, 4), (3, 2)])

    def not_a_tensor(x):
        raise KeyError("from f")
    with pytest.raises(KeyError, match="from f"):
        nd.gradcheck_broadcasting(not_a_tensor, [(2,)])
    with pytest.raises(TypeError):
        nd.gradcheck_broadcasting(lambda x: 1.0, [(2,)])


def test_max_variants_and_broadcast_variants():
    r = nd.gradcheck_broadcasting(lambda a, b: a * b, [(2, 3), (3,)], max_variants=3)
    assert len(r.variants) == 3 and r.left_out > 0
    vs = nd.broadcast_variants([(2, 3, 4), (3, 1)])
    assert vs[0] == ([(2, 3, 4), (3, 1)], "as given")
    assert ([(3, 3, 3), (3, 1)], "equal sizes") in vs
    assert len({tuple(s) for s, _ in vs}) == len(vs)
    with pytest.raises(nd.ValueError, match="max_variants"):
        nd.gradcheck_broadcasting(lambda a: a, [(2,)], max_variants=0)
