"""Printing tensors as NumPy prints arrays: the values' text is np.array2string's."""
import numpy as np
import pytest

import ndgrad as nd

NAMES = {np.float32: "float32", np.float64: "float64", np.float16: "float16",
         np.int64: "int64", np.int32: "int32", np.bool_: "bool"}


def numpy_repr(a, precision=8, threshold=1000, edgeitems=3, linewidth=75):
    """What ndgrad prints for a: NumPy's array2string of the values, then the dtype (on a line of
    its own when it would pass the line width, as NumPy's repr does)."""
    body = np.array2string(a, max_line_width=linewidth, precision=precision, threshold=threshold,
                           edgeitems=edgeitems, separator=" ", prefix="tensor(", suffix=",")
    text = "tensor(" + body + ","
    tail = "dtype=" + NAMES[a.dtype.type] + ")"
    last = len(text) - (text.rfind("\n") + 1)
    return text + ("\n" + " " * 7 if last + 1 + len(tail) > linewidth else " ") + tail


@pytest.fixture(autouse=True)
def default_options():
    saved = nd.get_printoptions()
    yield
    nd.set_printoptions(**saved)


SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4), (40, 30), (3, 500), (2, 2, 2, 2)]
SCALES = [1e-7, 1e-3, 0.5, 1.0, 37.0, 1e4, 1e7, 1e9, 1e20]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_random_floats_print_as_numpy_does(dtype, scale):
    rng = np.random.default_rng(int(scale * 1000) % 2**32 + 7)
    for shape in SHAPES:
        a = (rng.standard_normal(shape) * scale).astype(dtype)
        if dtype == np.float16 and not np.all(np.isfinite(a)):
            continue  # past float16's range
        assert repr(nd.tensor(a)) == numpy_repr(a), (shape, scale)
        # Several magnitudes in one tensor, rounded values, zeros, NaN and infinities.
        b = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
        assert repr(nd.tensor(b)) == numpy_repr(b), (shape, scale)
        c = np.round(a * 4) / 4
        assert str(nd.tensor(c)) == numpy_repr(c), (shape, scale)
    d = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, scale, -scale], dtype)
    assert repr(nd.tensor(d)) == numpy_repr(d)
    e = np.array([np.nan, np.inf], dtype)
    assert repr(nd.tensor(e)) == numpy_repr(e)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integers_and_bools_print_as_numpy_does(dtype):
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        a = rng.integers(-10**6, 10**6, shape).astype(dtype)
        assert repr(nd.tensor(a)) == numpy_repr(a), shape
    big = np.array([2**62 + 1, -5], np.int64)
    assert repr(nd.tensor(big)) == numpy_repr(big)


@pytest.mark.parametrize("options", [
    dict(precision=3), dict(precision=0), dict(precision=12), dict(threshold=10, edgeitems=2),
    dict(threshold=0, edgeitems=1), dict(linewidth=30), dict(linewidth=120, precision=4),
    dict(linewidth=10)])
def test_options_match_numpys(options):
    nd.set_printoptions(**options)
    got = nd.get_printoptions()
    for key, value in options.items():
        assert got[key] == value
    rng = np.random.default_rng(11)
    for shape in [(5,), (4, 6), (3, 4, 5), (30, 40)]:
        for scale in [1e-5, 1.0, 1e3]:
            a = rng.standard_normal(shape) * scale
            assert repr(nd.tensor(a)) == numpy_repr(a, **options), (shape, scale)
        i = rng.integers(-1000, 1000, shape)
        assert repr(nd.tensor(i)) == numpy_repr(i, **options), shape


def test_set_printoptions_keeps_what_it_is_not_given_and_sci_mode_forces():
    nd.set_printoptions(precision=4)
    nd.set_printoptions(linewidth=100)
    assert nd.get_printoptions() == dict(precision=4, threshold=1000, edgeitems=3,
                                         linewidth=100, sci_mode=None)
    nd.set_printoptions(sci_mode=True)
    assert repr(nd.tensor(np.array([1.5, 20.0]))) == "tensor([1.5e+00 2.0e+01], dtype=float64)"
    nd.set_printoptions(sci_mode=False)
    assert repr(nd.tensor(np.array([0.5, 1e-5]))) == "tensor([0.5 0. ], dtype=float64)"
    nd.set_printoptions(sci_mode=None)
    assert nd.get_printoptions()["sci_mode"] is None
    with pytest.raises(ValueError, match="precision"):
        nd.set_printoptions(precision=-1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        nd.set_printoptions(precison=3)
    assert nd.get_printoptions()["precision"] == 4


def test_repr_keeps_grad_information_and_huge_views_print_fast():
    t = nd.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(t) == "tensor([[1. 2.]\n        [3. 4.]], dtype=float32, requires_grad=True)"
    assert repr(t * 2).endswith("dtype=float32, requires_grad=True, grad_fn=mul)")
    huge = nd.tensor(0.25).broadcast_to((1 << 40,))
    assert repr(huge) == "tensor([0.25 0.25 0.25 ... 0.25 0.25 0.25], dtype=float32)"


def test_item_takes_indices():
    a = np.random.default_rng(5).standard_normal((3, 4))
    t = nd.tensor(a)
    for i in range(-3, 3):
        for j in range(-4, 4):
            assert t.item(i, j) == a[i, j] and t.item((i, j)) == a[i, j]
    big = nd.tensor(np.array([[2**62 + 1, 3]], np.int64))
    assert big.item(0, 0) == 2**62 + 1 and isinstance(big.item(0, -1), int)
    assert nd.tensor(2.5).item() == 2.5
    with pytest.raises(IndexError, match="axis 1"):
        t.item(0, 4)
    with pytest.raises(IndexError, match="axis 0"):
        t.item(-4, 0)
    for k in range(-12, 12):  # one integer on a 2-d tensor: a flat index, as NumPy's
        assert t.item(k) == a.item(k)
    assert big.item(-2) == 2**62 + 1 and nd.tensor(2.5).item(0) == 2.5
    with pytest.raises(IndexError, match="flat index 12"):
        t.item(12)
