"""DLPack: tensors exchanged with PyTorch and NumPy without copies."""
import numpy as np
import pytest

import ndgrad as nd

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32",
                                   "int8", "uint8"])
def test_ndgrad_to_torch_and_back_share_memory(rng, dtype):
    t = nd.tensor(rng.uniform(-50, 50, size=(3, 5)), dtype=dtype)[:, ::2]  # strided
    pt = torch.from_dlpack(t)
    assert tuple(pt.shape) == t.shape and str(pt.dtype) == f"torch.{dtype}"
    assert tuple(pt.stride()) == t.stride()
    np.testing.assert_array_equal(pt.float().numpy(), t.float().numpy())
    back = nd.from_dlpack(pt)
    assert back.dtype == t.dtype
    with nd.no_grad():
        back[0, 0] = 7  # one memory: the write is seen through every view
    assert t[0, 0].item() == 7 and pt[0, 0].item() == 7


def test_torch_to_ndgrad_keeps_torch_memory_alive(rng):
    a = rng.standard_normal((4, 6))
    pt = torch.tensor(a).t()  # a transposed view
    t = nd.from_dlpack(pt)
    assert t.shape == (6, 4) and t.stride() == tuple(pt.stride())
    np.testing.assert_array_equal(t.numpy(), a.T)
    address = pt.data_ptr()
    del pt
    np.testing.assert_array_equal(t.numpy(), a.T)  # the producer's memory is still held
    assert np.asarray(t).__array_interface__["data"][0] == address


def test_numpy_arrays_and_capsules():
    a = np.arange(6.0).reshape(2, 3)
    t = nd.from_dlpack(a)
    assert np.shares_memory(np.asarray(t), a)
    capsule = torch.arange(4).__dlpack__()
    t = nd.from_dlpack(capsule)
    assert t.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="consumed"):
        nd.from_dlpack(capsule)
    with pytest.raises(TypeError, match="__dlpack__"):
        nd.from_dlpack([1, 2])


def test_an_unconsumed_capsule_frees_its_memory_reference():
    t = nd.ones(1000)
    for _ in range(100):
        t.__dlpack__()  # dropped at once: the capsule's destructor gives the handle back
    assert t.__dlpack_device__() == (1, 0)


def run_isolated(code):
    # Code that could abort the interpreter runs in a child: a crash fails the test, not pytest.
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)


def test_a_view_with_negative_strides_is_refused_not_a_crash_of_torch():
    # PyTorch has no negative strides: torch 1.13 aborts the interpreter on such a capsule
    # (NumPy's own export does the same). The export refuses them with BufferError.
    result = run_isolated(
        "import ndgrad as nd, torch\n"
        "t = nd.arange(0, 6, 1).float().reshape(2, 3)[::-1, ::2]\n"
        "try:\n"
        "    torch.from_dlpack(t)\n"
        "except BufferError as e:\n"
        "    print('refused:', e)\n"
        "print(torch.from_dlpack(t.contiguous()).tolist())\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "negative strides" in result.stdout
    assert "[[3.0, 5.0], [0.0, 2.0]]" in result.stdout
