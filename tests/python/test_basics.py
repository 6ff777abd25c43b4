"""Construction, inspection, conversions and bad input."""
import math

import numpy as np
import pytest

import ndgrad as nd


def test_tensor_from_nested_lists_keeps_shape_values_and_default_dtypes():
    t = nd.tensor([[1.5, 2.0, -3.25], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3)
    assert t.ndim == 2
    assert t.size == 6 and t.numel() == 6 and len(t) == 2
    assert t.dtype == nd.float32 and t.dtype == "float32" and t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.array([[1.5, 2.0, -3.25], [4, 5, 6]], np.float32))
    assert nd.tensor([1, 2, 3]).dtype == nd.int64
    assert nd.tensor([True, False]).dtype == nd.bool
    assert nd.tensor([1, 2.5]).dtype == nd.float32  # ints and floats: float
    assert nd.tensor(3.5).shape == () and nd.tensor(3.5).item() == 3.5
    assert nd.tensor([]).shape == (0,)
    assert nd.tensor([[1, 2]], dtype="float64").dtype == nd.float64
    assert nd.tensor([1, 2], dtype=np.int32).dtype == nd.int32


def test_int64_values_past_2_53_are_exact():
    big = 2**62 + 1
    t = nd.tensor([big, -big])
    assert t.tolist() == [big, -big]
    assert t[0].item() == big
    assert int(t[1]) == -big
    assert nd.full((2,), big).tolist() == [big, big]


def test_dtype_objects():
    assert str(nd.float32) == "float32" and repr(nd.int64) == "ndgrad.int64"
    assert nd.dtype("f64") == nd.float64 and nd.dtype(np.dtype("uint8")) == nd.uint8
    assert nd.float16.itemsize == 2 and nd.float32.is_floating_point
    assert nd.float32 != "int64" and nd.float32 != object()
    assert {nd.float32: 1}[nd.dtype("float32")] == 1


def test_factories_against_numpy(rng):
    np.testing.assert_array_equal(nd.zeros(2, 3).numpy(), np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(nd.ones((4,), dtype="int64").numpy(), np.ones(4, np.int64))
    np.testing.assert_array_equal(nd.full((2, 2), 7.5).numpy(), np.full((2, 2), 7.5, np.float32))
    assert nd.full((2,), 3).dtype == nd.int64 and nd.full((2,), True).dtype == nd.bool
    np.testing.assert_array_equal(nd.arange(7).numpy(), np.arange(7))
    np.testing.assert_array_equal(nd.arange(2, 11, 3).numpy(), np.arange(2, 11, 3))
    np.testing.assert_array_equal(nd.arange(10, 0, -3).numpy(), np.arange(10, 0, -3))
    np.testing.assert_allclose(nd.arange(0.5, 2.0, 0.25).numpy(), np.arange(0.5, 2.0, 0.25))
    np.testing.assert_array_equal(nd.eye(3).numpy(), np.eye(3, dtype=np.float32))
    a, b = nd.randn(100, 50, seed=3), nd.randn(100, 50, seed=3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert abs(float(a.mean())) < 0.05 and abs(float(a.std()) - 1) < 0.05
    u = nd.rand(1000, seed=4).numpy()
    assert u.min() >= 0 and u.max() < 1 and u.dtype == np.float32
    nd.manual_seed(5)
    x = nd.randn(4).numpy()
    nd.manual_seed(5)
    np.testing.assert_array_equal(x, nd.randn(4).numpy())
    z = nd.zeros_like(nd.ones(2, 3, dtype="float64"))
    assert z.dtype == nd.float64 and z.shape == (2, 3)


def test_python_protocols():
    t = nd.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert float(t[1, 1]) == 4.0 and int(t[0, 1]) == 2
    assert bool(nd.tensor([1.0])) and not bool(nd.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(TypeError):
        len(nd.tensor(1.0))
    assert [10, 20, 30][nd.tensor(2)] == 30  # __index__ for integer tensors
    assert isinstance(t[0, 0].item(), float)
    assert t[0, 0].item() == 1.0 and nd.tensor(7).item() == 7 and nd.tensor(True).item() is True
    assert len({t, t}) == 1  # hashable by identity


def test_repr_looks_like_numpy_and_names_dtype_and_grad():
    t = nd.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    r = repr(t)
    assert r.startswith("tensor([[") and "dtype=float32" in r and "requires_grad=True" in r
    assert "f32" not in r
    big = repr(nd.arange(5000))
    assert "..." in big and len(big) < 200  # summarized as NumPy does
    assert "grad_fn=mul" in repr(t * 2)


def test_conversions():
    t = nd.tensor([1.7, -2.2])
    assert t.to("int64").tolist() == [1, -2]
    assert t.astype(np.float64).dtype == nd.float64
    assert t.double().dtype == nd.float64 and t.long().dtype == nd.int64
    assert nd.tensor([0, 3]).bool().tolist() == [False, True]
    h = nd.tensor([1 / 3], dtype="float16")
    assert h.numpy().dtype == np.float16 and h.numpy()[0] == np.float16(1 / 3)
    bf = nd.tensor([1.0, 2.5], dtype="bfloat16")
    assert bf.dtype == nd.bfloat16
    assert np.asarray(bf).dtype == np.float32  # NumPy has no bfloat16: a float32 copy
    np.testing.assert_array_equal(np.asarray(bf), [1.0, 2.5])


@pytest.mark.parametrize(
    "bad, error, words",
    [
        ([[1, 2], [3]], ValueError, "ragged"),
        ([[1, 2], 3], ValueError, "ragged"),
        ([1, [2, 3]], ValueError, "ragged"),
        ([1, "a"], TypeError, "str"),
        ([1, None], TypeError, "NoneType"),
        (object(), TypeError, "object"),
        ({"a": 1}, TypeError, "dict"),
        ("text", TypeError, "str"),
        ([1, 2**70], ValueError, "int64"),
        ([1j], TypeError, "complex"),
    ],
)
def test_bad_input_is_a_clear_type_or_value_error(bad, error, words):
    with pytest.raises(error, match=words):
        nd.tensor(bad)


def test_unsupported_numpy_dtypes_are_type_errors():
    for a in (np.zeros(3, np.int16), np.zeros(2, np.complex64), np.array(["a"]),
              np.array([object()]), np.zeros(2, np.uint64)):
        with pytest.raises(TypeError, match="dtype"):
            nd.from_numpy(a)
    with pytest.raises(TypeError):
        nd.from_numpy([1, 2])  # not an array
    with pytest.raises(TypeError, match="unknown dtype"):
        nd.zeros(2, dtype="float128")


def test_pickle_and_copies_keep_values_dtype_and_requires_grad(rng):
    import copy
    import pickle

    for dtype in ("float32", "float64", "int64", "bool", "float16", "bfloat16", "uint8"):
        t = nd.tensor(rng.uniform(-3, 3, size=(2, 3)), dtype=dtype)[:, ::-1]
        back = pickle.loads(pickle.dumps(t))
        assert back.dtype == t.dtype and back.shape == t.shape
        np.testing.assert_array_equal(np.asarray(back), np.asarray(t))
    w = nd.tensor([1.0, 2.0], requires_grad=True)
    assert pickle.loads(pickle.dumps(w)).requires_grad
    c = copy.deepcopy(w)
    assert not np.shares_memory(np.asarray(c), np.asarray(w)) and c.tolist() == w.tolist()
    assert c.requires_grad and c.is_leaf  # a parameter's copy is a parameter


def test_tensor_of_tensors_and_arrays_in_lists():
    rows = [nd.tensor([1.0, 2.0]), np.array([3.0, 4.0])]
    np.testing.assert_array_equal(nd.tensor(rows).numpy(), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="ragged"):
        nd.tensor([nd.tensor([1.0, 2.0]), nd.tensor([3.0])])


def test_tensor_of_a_tensor_shares_memory_but_not_history():
    x = nd.ones(3, requires_grad=True)
    y = x * 2
    t = nd.tensor(y, requires_grad=True)
    assert t.is_leaf and t.requires_grad and y.grad_fn == "mul"
    assert np.shares_memory(np.asarray(t), np.asarray(y))
    w = nd.ones(2)
    nd.tensor(w, requires_grad=True)
    assert not w.requires_grad  # the original is left alone
    assert nd.as_tensor(w) is w and nd.as_tensor(w, "float64").dtype == nd.float64
    with pytest.raises(nd.AxisError, match="twice"):
        nd.ones(1, 1, 3).squeeze((0, -3))


def test_a_list_that_contains_itself_is_a_value_error_not_a_hang():
    # Its nesting never ends: the shape search stops past the 32 dimensions a tensor can have
    # (it looped, growing the shape, until memory ran out).
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="32"):
        nd.tensor(cycle)
    deep = [1]
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="32"):
        nd.tensor(deep)
