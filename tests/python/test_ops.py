"""Operators, functions, reductions and shape ops against NumPy."""
import operator

import numpy as np
import pytest

import ndgrad as nd

# Shape pairs with distinct and repeated sizes, 0-d and rank promotion.
SHAPE_PAIRS = [((), (3,)), ((3, 1), (1, 4)), ((2, 1, 4), (3, 1)), ((3, 3), (3,)),
               ((1,), (2, 3)), ((2, 3, 3), (2, 1, 3)), ((4,), (4,))]


def rand(rng, shape, dtype=np.float64, low=-2, high=2):
    return rng.uniform(low, high, size=shape).astype(dtype)


@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                np.maximum, np.minimum, np.arctan2])
def test_binary_ops_broadcast_like_numpy(rng, shapes, op):
    a = rand(rng, shapes[0])
    b = rand(rng, shapes[1], low=0.5, high=2)
    fn = {np.maximum: nd.maximum, np.minimum: nd.minimum, np.arctan2: nd.atan2}.get(op, op)
    r = fn(nd.tensor(a), nd.tensor(b))
    assert r.shape == np.broadcast_shapes(a.shape, b.shape)
    assert r.shape == nd.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(r.numpy(), op(a, b), rtol=1e-12)


def test_python_scalars_on_either_side_keep_their_kind(rng):
    a = rand(rng, (3, 4))
    t = nd.tensor(a)
    for f in (lambda x: x + 2, lambda x: 2 + x, lambda x: x - 1.5, lambda x: 1.5 - x,
              lambda x: x * 3, lambda x: 3 * x, lambda x: x / 4, lambda x: 4 / x,
              lambda x: x ** 2, lambda x: 2 ** x, lambda x: -x, lambda x: abs(x),
              lambda x: x // 0.7, lambda x: x % 0.7):
        np.testing.assert_allclose(f(t).numpy(), f(a), rtol=1e-12)
    i = nd.tensor([1, 2, 3])
    assert (i + 2).dtype == nd.int64 and (i * 2.5).dtype == nd.float32
    assert (i / 2).dtype == nd.float32 and (i // 2).tolist() == [0, 1, 1]
    assert (i + True).tolist() == [2, 3, 4]
    f32 = nd.tensor([1.0, 2.0])
    assert (f32 + np.float64(1)).dtype == nd.float32  # a NumPy scalar counts as a number


def test_numpy_arrays_on_either_side_give_tensors(rng):
    a, b = rand(rng, (2, 3)), rand(rng, (3,))
    r = b + nd.tensor(a)  # ndarray + Tensor: the tensor's __radd__, not NumPy's
    assert isinstance(r, nd.Tensor)
    np.testing.assert_allclose(r.numpy(), a + b)
    np.testing.assert_allclose((nd.tensor(a) @ np.ones((3, 2))).numpy(), a @ np.ones((3, 2)))
    np.testing.assert_allclose((a @ nd.tensor(np.ones((3, 2)))).numpy(), a @ np.ones((3, 2)))


def test_comparisons_and_logic(rng):
    a, b = rand(rng, (3, 4)), rand(rng, (4,))
    ta, tb = nd.tensor(a), nd.tensor(b)
    for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
        r = op(ta, tb)
        assert r.dtype == nd.bool
        np.testing.assert_array_equal(r.numpy(), op(a, b))
    np.testing.assert_array_equal((0.5 < ta).numpy(), 0.5 < a)
    m = ta > 0
    np.testing.assert_array_equal((~m).numpy(), ~(a > 0))
    np.testing.assert_array_equal((m & (tb < 1)).numpy(), (a > 0) & (b < 1))
    np.testing.assert_array_equal((m | (tb < 1)).numpy(), (a > 0) | (b < 1))
    assert (ta == None) is False  # noqa: E711  (not a tensor operand: Python's identity)


@pytest.mark.parametrize("name, npf, domain", [
    ("exp", np.exp, (-3, 3)), ("log", np.log, (0.1, 3)), ("sqrt", np.sqrt, (0, 4)),
    ("sin", np.sin, (-3, 3)), ("cos", np.cos, (-3, 3)), ("tanh", np.tanh, (-3, 3)),
    ("abs", np.abs, (-3, 3)), ("sign", np.sign, (-3, 3)), ("floor", np.floor, (-3, 3)),
    ("log1p", np.log1p, (-0.5, 3)), ("expm1", np.expm1, (-2, 2)),
    ("relu", lambda x: np.maximum(x, 0), (-3, 3)),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), (-5, 5)),
    ("square", np.square, (-3, 3)), ("reciprocal", np.reciprocal, (0.5, 3)),
])
def test_unary_functions_and_methods(rng, name, npf, domain):
    a = rng.uniform(*domain, size=(3, 5))
    t = nd.tensor(a)
    np.testing.assert_allclose(getattr(nd, name)(t).numpy(), npf(a), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(getattr(t, name)().numpy(), npf(a), rtol=1e-12, atol=1e-15)
    f32 = getattr(nd, name)(nd.tensor(a, dtype="float32")).numpy()
    np.testing.assert_allclose(f32, npf(a.astype(np.float32)), rtol=1e-5, atol=1e-6)


def test_where_clamp_and_parameterized_functions(rng):
    a = rand(rng, (4, 5))
    t = nd.tensor(a)
    np.testing.assert_array_equal(nd.where(t > 0, t, 0.0).numpy(), np.where(a > 0, a, 0.0))
    np.testing.assert_array_equal(nd.where(t > 0, 1.0, t).numpy(), np.where(a > 0, 1.0, a))
    np.testing.assert_array_equal(nd.where(t > 0, 1, -1).numpy(), np.where(a > 0, 1, -1))
    np.testing.assert_array_equal(t.clamp(-0.5, 0.5).numpy(), np.clip(a, -0.5, 0.5))
    np.testing.assert_array_equal(t.clamp(min=0).numpy(), np.clip(a, 0, None))
    np.testing.assert_array_equal(nd.clip(t, None, 0.25).numpy(), np.clip(a, None, 0.25))
    lo = nd.tensor(rand(rng, (5,)))
    np.testing.assert_array_equal(t.clamp(lo).numpy(), np.maximum(a, lo.numpy()))
    i = nd.tensor([-5, 0, 5, 12])
    assert i.clamp(0, 9).dtype == nd.int64 and i.clamp(0, 9).tolist() == [0, 0, 5, 9]
    np.testing.assert_allclose(nd.leaky_relu(t, 0.1).numpy(), np.where(a > 0, a, 0.1 * a))
    s = nd.softmax(t, axis=1).numpy()
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(s, e / e.sum(1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2, (0, 2), (2, 0), (-1, 1), (0, 1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(rng, axis, keepdims):
    a = rand(rng, (3, 3, 4))  # repeated and distinct sizes
    t = nd.tensor(a)
    for name, npf in (("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min),
                      ("prod", np.prod)):
        r = getattr(t, name)(axis=axis, keepdims=keepdims)
        expect = npf(a, axis=axis, keepdims=keepdims)
        assert r.shape == np.shape(expect)
        np.testing.assert_allclose(r.numpy(), expect, rtol=1e-12)
        np.testing.assert_allclose(getattr(nd, name)(a, axis, keepdims).numpy(), expect,
                                   rtol=1e-12)
    for ddof in (0, 1):
        np.testing.assert_allclose(t.var(axis=axis, ddof=ddof, keepdims=keepdims).numpy(),
                                   np.var(a, axis=axis, ddof=ddof, keepdims=keepdims), rtol=1e-10)
        np.testing.assert_allclose(t.std(axis, ddof, keepdims).numpy(),
                                   np.std(a, axis=axis, ddof=ddof, keepdims=keepdims), rtol=1e-10)


def test_reduction_spellings_and_argmax(rng):
    a = rand(rng, (4, 6))
    t = nd.tensor(a)
    np.testing.assert_allclose(t.sum(dim=1, keepdim=True).numpy(), a.sum(1, keepdims=True))
    assert t.var().item() == pytest.approx(a.var(ddof=1))  # PyTorch's default correction
    np.testing.assert_array_equal(t.argmax(axis=1).numpy(), a.argmax(1))
    np.testing.assert_array_equal(t.argmin(0, keepdims=True).numpy(), a.argmin(0)[None])
    assert t.argmax().item() == a.argmax()
    with pytest.raises(TypeError, match="not both"):
        t.sum(axis=0, dim=1)
    with pytest.raises(ValueError, match=r"axis=\(\)"):
        t.sum(axis=())


def test_shape_ops_match_numpy(rng):
    a = rand(rng, (2, 3, 4))
    t = nd.tensor(a)
    np.testing.assert_array_equal(t.reshape(4, -1).numpy(), a.reshape(4, -1))
    np.testing.assert_array_equal(t.reshape((6, 4)).numpy(), a.reshape(6, 4))
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(t.transpose().numpy(), a.transpose())
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), a.swapaxes(0, 2))
    np.testing.assert_array_equal(t.transpose((1, 2, 0)).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.permute(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.unsqueeze(1).numpy(), a[:, None])
    np.testing.assert_array_equal(nd.expand_dims(t, -1).numpy(), a[..., None])
    b = rand(rng, (1, 3, 1))
    np.testing.assert_array_equal(nd.tensor(b).squeeze().numpy(), b.squeeze())
    np.testing.assert_array_equal(nd.tensor(b).squeeze(2).numpy(), b.squeeze(2))
    np.testing.assert_array_equal(nd.tensor(b).squeeze((0, 2)).numpy(), b.squeeze((0, 2)))
    np.testing.assert_array_equal(nd.tensor(b).broadcast_to((2, 3, 5)).numpy(),
                                  np.broadcast_to(b, (2, 3, 5)))
    np.testing.assert_array_equal(nd.tensor(b).expand(4, -1, 2).numpy(),
                                  np.broadcast_to(b[0], (4, 3, 2)))
    np.testing.assert_array_equal(t.flatten().numpy(), a.ravel())
    np.testing.assert_array_equal(t.flip(1).numpy(), np.flip(a, 1))


def test_matmul_join_split(rng):
    for sa, sb in (((3, 4), (4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)), ((2, 1, 3, 4), (5, 4, 2)),
                   ((4,), (4,))):
        a, b = rand(rng, sa), rand(rng, sb)
        r = nd.tensor(a) @ nd.tensor(b)
        np.testing.assert_allclose(r.numpy(), a @ b, rtol=1e-12)
        np.testing.assert_allclose(nd.matmul(a, b).numpy(), np.matmul(a, b), rtol=1e-12)
    a, b = rand(rng, (2, 3)), rand(rng, (2, 3))
    np.testing.assert_array_equal(nd.concatenate([a, b], axis=1).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_array_equal(nd.cat([nd.tensor(a), b]).numpy(), np.concatenate([a, b]))
    np.testing.assert_array_equal(nd.stack([a, b], axis=-1).numpy(), np.stack([a, b], -1))
    parts = nd.split(nd.tensor(a), [1, 2], axis=1)
    assert [p.shape for p in parts] == [(2, 1), (2, 2)]
    np.testing.assert_allclose(nd.einsum("ij,kj->ik", a, b).numpy(), a @ b.T, rtol=1e-12)


def test_inplace_operators_write_into_the_same_memory(rng):
    a = rand(rng, (3, 4))
    t = nd.tensor(a.copy())
    view = np.asarray(t)
    before = id(t)
    t += 1
    t *= nd.tensor(rand(rng, (4,)))  # broadcasting operand
    t -= 0.5
    assert id(t) == before
    np.testing.assert_array_equal(view, t.numpy())  # the NumPy view sees the writes
    i = nd.tensor([1, 2])
    with pytest.raises(TypeError, match="cannot be stored"):
        i += 0.5  # float result into an int64 tensor
    with pytest.raises(ValueError, match="shape"):
        t += nd.ones(2, 3, 4)


@pytest.mark.parametrize("op, method, reflected", [
    (operator.add, "__add__", "__radd__"), (operator.sub, "__sub__", "__rsub__"),
    (operator.mul, "__mul__", "__rmul__"), (operator.truediv, "__truediv__", "__rtruediv__")])
def test_operators_fast_route_agrees_with_the_bound_methods(rng, op, method, reflected):
    # + - * / go straight to the library for tensor-tensor and tensor-(float or int) operands;
    # every operand kind must give what the bound methods give (value, dtype, errors).
    t = nd.tensor(rand(rng, (3, 4), np.float32))
    i = nd.tensor(rng.integers(1, 5, size=(3, 4)))
    others = [nd.tensor(rand(rng, (4,), np.float32)), 2.5, 3, True, np.float32(1.5),
              rand(rng, (3, 1)), [1.0, 2.0, 3.0, 4.0], 2 ** 40]
    for x in (t, i):
        for other in others:
            direct = op(x, other)
            bound = getattr(x, method)(other)
            assert direct.dtype == bound.dtype and direct.shape == bound.shape
            np.testing.assert_array_equal(direct.numpy(), bound.numpy())
            if not isinstance(other, (nd.Tensor, np.ndarray)):
                back = op(other, x)
                bound_back = getattr(x, reflected)(other)
                assert back.dtype == bound_back.dtype
                np.testing.assert_array_equal(back.numpy(), bound_back.numpy())
    with pytest.raises(nd.ShapeError):
        op(t, nd.tensor(rand(rng, (5,), np.float32)))
    with pytest.raises(TypeError):
        op(t, object())
    with pytest.raises(TypeError):
        op(object(), t)
    with pytest.raises((ValueError, OverflowError)):
        op(i, 2 ** 70)  # past int64: the bound method's error


def test_operators_reach_a_subclass_methods():
    class Logged(nd.Tensor):
        calls = []

        def __add__(self, other):
            Logged.calls.append("add")
            return nd.Tensor.__add__(self, other)

        def __radd__(self, other):
            Logged.calls.append("radd")
            return nd.Tensor.__radd__(self, other)

    s = Logged(nd.tensor([1.0, 2.0]))
    assert (s + 1).tolist() == [2.0, 3.0] and (1 + s).tolist() == [2.0, 3.0]
    assert Logged.calls == ["add", "radd"]


def test_operators_record_gradients_on_every_route(rng):
    a = rand(rng, (3, 4))
    x = nd.tensor(a, requires_grad=True)
    g = rand(rng, (3, 4))
    y = (2.0 * x - 1) / 3 + x * x - 0.5 / (x + 4)
    y.backward(nd.tensor(g))
    expected = g * (2.0 / 3 + 2 * a + 0.5 / (a + 4) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
