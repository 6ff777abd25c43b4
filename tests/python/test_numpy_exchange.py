"""Memory shared with NumPy: what is shared, what is copied, and what keeps what alive."""
import gc
import time
import weakref

import numpy as np
import pytest

import ndgrad as nd


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.int8, np.uint8, np.bool_])
def test_from_numpy_shares_every_supported_dtype(rng, dtype):
    a = (rng.uniform(-50, 50, size=(3, 4)) > 0 if dtype == np.bool_
         else rng.uniform(-50, 50, size=(3, 4)).astype(dtype))
    t = nd.from_numpy(a)
    assert t.dtype == a.dtype and t.shape == a.shape
    back = np.asarray(t)
    assert np.shares_memory(back, a) and back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)
    a[1, 2] = a[0, 0]  # writes on either side are seen by the other
    assert t[1, 2].item() == a[0, 0].item()


def test_strided_and_reversed_views_share_with_their_strides(rng):
    base = rng.standard_normal((6, 8))
    for view in (base[::2, 1::3], base[::-1, ::-2], base.T, base[:, 3], base[2:2]):
        t = nd.from_numpy(view)
        assert t.shape == view.shape
        np.testing.assert_array_equal(t.numpy(), view)
        back = np.asarray(t)
        if view.size:  # (an empty array's strides are arbitrary)
            assert back.strides == view.strides
            assert np.shares_memory(back, base)


def test_tensor_views_export_their_strides(rng):
    t = nd.tensor(rng.standard_normal((4, 5)))
    v = t[::2, ::-1].T
    a = np.asarray(v)
    assert a.strides == v.strides
    assert np.shares_memory(a, np.asarray(t))
    np.testing.assert_array_equal(a, t.numpy()[::2, ::-1].T)


def test_a_broadcast_view_exports_read_only():
    t = nd.tensor([1.0, 2.0, 3.0]).broadcast_to((4, 3))
    a = np.asarray(t)
    assert a.strides[0] == 0 and not a.flags.writeable
    np.testing.assert_array_equal(a, np.broadcast_to([1.0, 2.0, 3.0], (4, 3)))


def test_the_array_keeps_the_tensor_memory_alive():
    t = nd.arange(1000, dtype="float64") * 2.0
    a = np.asarray(t)
    del t
    gc.collect()
    np.testing.assert_array_equal(a, np.arange(1000) * 2.0)
    a[:] = 1  # still memory of its own to write


def test_the_tensor_keeps_the_array_alive():
    class Owned(np.ndarray):  # weak-referenceable, unlike a plain ndarray
        pass

    a = np.arange(12, dtype=np.float64).reshape(3, 4).view(Owned)
    ref = weakref.ref(a)
    t = nd.from_numpy(a)
    view = t[1:]
    del a, t
    gc.collect()
    assert ref() is not None  # the view still holds it
    np.testing.assert_array_equal(view.numpy(), np.arange(4, 12).reshape(2, 4))
    del view
    gc.collect()
    assert ref() is None  # and lets it go with the last tensor over it


def test_read_only_arrays_are_copied_never_written():
    a = np.arange(6, dtype=np.float64)
    a.flags.writeable = False
    t = nd.from_numpy(a)
    assert not np.shares_memory(np.asarray(t), a)
    with nd.no_grad():
        t[0] = 100.0
    t += 1
    np.testing.assert_array_equal(a, np.arange(6))
    bcast = np.broadcast_to(np.arange(3.0), (2, 3))  # read-only with a 0 stride
    t = nd.from_numpy(bcast)
    t[1, 1] = -1.0
    np.testing.assert_array_equal(bcast, np.broadcast_to(np.arange(3.0), (2, 3)))


def test_unaligned_and_big_endian_arrays_are_copied():
    raw = np.zeros(8 * 4 + 1, dtype=np.uint8)
    unaligned = raw[1:].view(np.float64)
    unaligned[:] = [1, 2, 3, 4]
    t = nd.from_numpy(unaligned)
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3, 4])
    be = np.arange(4, dtype=">f8")
    np.testing.assert_array_equal(nd.from_numpy(be).numpy(), np.arange(4.0))


def test_tensor_of_an_array_shares_and_dtype_converts():
    a = np.ones(5, dtype=np.float32)
    assert np.shares_memory(np.asarray(nd.tensor(a)), a)
    converted = nd.tensor(a, dtype="float64")
    assert converted.dtype == nd.float64 and not np.shares_memory(np.asarray(converted), a)


def test_64_megabytes_round_trip_in_constant_time():
    # numpy -> ndgrad -> numpy without copies: the time does not grow with the size.
    def round_trip(a):
        best = float("inf")
        for _ in range(20):
            start = time.perf_counter()
            back = np.asarray(nd.from_numpy(a))
            best = min(best, time.perf_counter() - start)
        assert np.shares_memory(back, a)
        return best

    small = np.ones(16, dtype=np.float32)
    big = np.ones(16 * 2**20, dtype=np.float32)  # 64 MB
    t_small, t_big = round_trip(small), round_trip(big)
    assert t_big < 1e-3  # a copy of 64 MB takes milliseconds
    assert t_big < 20 * t_small + 1e-4


def test_large_results_over_shared_memory_read_it_when_the_op_is_called():
    # Large elementwise results may be computed lazily; over memory NumPy can write, they are not.
    a = np.ones(2**21, dtype=np.float32)
    t = nd.from_numpy(a)
    doubled = t * 2.0
    a[0] = 100.0
    assert doubled[0].item() == 2.0
    own = nd.ones(2**21)
    exported = np.asarray(own)
    tripled = own * 3.0
    exported[0] = 100.0
    assert tripled[0].item() == 3.0


def test_numpy_method_and_array_protocol():
    t = nd.tensor([[1, 2], [3, 4]])
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().dtype == np.int64
    assert np.array(t, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(t) * 2, [[2, 4], [6, 8]])
    assert nd.zeros(0, 3).numpy().shape == (0, 3)
