"""t[...] and t[...] = v against NumPy, on fixed and random index expressions."""
import numpy as np
import pytest

import ndgrad as nd


def check(a, index):
    t = nd.tensor(a)
    got = t[index]
    expect = a[index]
    assert got.shape == expect.shape, index
    np.testing.assert_array_equal(got.numpy(), expect, err_msg=repr(index))


FIXED = [
    1, -1, (0, 2), slice(None), slice(1, None), slice(None, None, -1), slice(5, 0, -2),
    (Ellipsis, 1), (None, 0), (slice(None), None, 2), (1, Ellipsis, None), (), (Ellipsis,),
    np.int64(2), [0, 2, 2], np.array([[1, 0], [3, 3]]), (slice(None), [1, 0]),
    ([0, 1], slice(None), [2, 3]),  # separated advanced entries: their axes come first
    (slice(1, 3), [0, 2], [1, 1]), (0, [1, 2], slice(None)), (Ellipsis, [0, -1]),
    np.array([True, False, True, False]),
]


@pytest.mark.parametrize("index", FIXED, ids=[repr(i) for i in FIXED])
def test_fixed_indices_match_numpy(rng, index):
    check(rng.standard_normal((4, 3, 5)), index)


def test_masks_match_numpy(rng):
    a = rng.standard_normal((4, 5))
    check(a, a > 0)
    check(a, a[:, 0] > 0)
    check(a, (slice(None), a[0] > 0))
    check(a, np.True_)
    check(a, (Ellipsis, False))


def random_index(rng, shape):
    # One entry per axis (an int, a slice, an index array or a full slice), then an ellipsis in
    # place of a run of them or fewer entries than axes, and new axes anywhere.
    per_axis = []
    for n in shape:
        kind = rng.integers(0, 4)
        if kind == 0:
            per_axis.append(int(rng.integers(-n, n)))
        elif kind == 1:
            start = rng.choice([None, int(rng.integers(-n - 2, n + 2))])
            stop = rng.choice([None, int(rng.integers(-n - 2, n + 2))])
            per_axis.append(slice(start, stop, rng.choice([None, 1, 2, -1, -3])))
        elif kind == 2:
            per_axis.append(rng.integers(-n, n, size=int(rng.integers(1, 4))))
        else:
            per_axis.append(slice(None))
    i, j = sorted(rng.integers(0, len(shape) + 1, size=2))
    if rng.integers(0, 2):
        entries = per_axis[:i] + [Ellipsis] + per_axis[j:]
    else:
        entries = per_axis[:j]
    for _ in range(int(rng.integers(0, 3))):
        entries.insert(int(rng.integers(0, len(entries) + 1)), None)
    return tuple(entries)


def test_random_index_expressions_match_numpy(rng):
    a = rng.standard_normal((5, 4, 3, 6))
    count = 0
    for _ in range(400):
        index = random_index(rng, a.shape)
        try:
            np.broadcast_shapes(*[e.shape for e in index if isinstance(e, np.ndarray)])
        except ValueError:  # index arrays that do not broadcast: an IndexError on both sides
            with pytest.raises(IndexError):
                a[index]
            with pytest.raises(IndexError):
                nd.tensor(a)[index]
            continue
        check(a, index)
        count += 1
    assert count > 200


def test_basic_indexing_gives_views_and_advanced_gives_copies():
    t = nd.arange(12, dtype="float64").reshape(3, 4)
    v = t[1:, ::2]
    assert np.shares_memory(np.asarray(v), np.asarray(t))
    c = t[[0, 2]]
    assert not np.shares_memory(np.asarray(c), np.asarray(t))


def test_index_assignment_matches_numpy(rng):
    cases = [
        (1, 5.0), ((slice(None), 2), -1.0), ((Ellipsis, slice(None, None, -2)), 7),
        ([0, 2], np.arange(4.0)), ((slice(1, None), [1, 3]), np.array([[1.0, 2.0], [3.0, 4.0]])),
        (None, 0.5),
    ]
    for index, value in cases:
        a = rng.standard_normal((3, 4))
        t = nd.tensor(a.copy())
        a[index] = value
        t[index] = value if not isinstance(value, np.ndarray) else nd.tensor(value)
        np.testing.assert_array_equal(t.numpy(), a, err_msg=repr(index))
    a = rng.standard_normal((3, 4))
    t = nd.tensor(a.copy())
    t[t > 0] = 0.0
    a[a > 0] = 0.0
    np.testing.assert_array_equal(t.numpy(), a)
    i = nd.tensor([1, 2, 3])
    i[0] = 2**62 + 1  # an int keeps its precision in an int64 tensor
    assert i.tolist() == [2**62 + 1, 2, 3]


def test_index_assignment_writes_through_to_numpy_and_refuses_leaves():
    a = np.zeros((2, 3))
    t = nd.from_numpy(a)
    t[1, 1:] = 4.0
    np.testing.assert_array_equal(a, [[0, 0, 0], [0, 4, 4]])
    w = nd.zeros(3, requires_grad=True)
    with pytest.raises(nd.AutogradError):
        w[0] = 1.0
    with nd.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0, 0.0]


def test_indexing_errors():
    t = nd.zeros(3, 4)
    with pytest.raises(IndexError):
        t[3]
    with pytest.raises(IndexError):
        t[0, 0, 0]
    with pytest.raises(IndexError):
        t[np.array([0, 5])]
    with pytest.raises(TypeError, match="valid indices"):
        t["a"]
    with pytest.raises(TypeError, match="slice indices"):
        t[0.5:]
    with pytest.raises(IndexError):
        t[nd.tensor([0.5])]  # a float index tensor
