"""C++ errors arrive as Python exceptions of the right classes, with the C++ messages."""
import numpy as np
import pytest

import ndgrad as nd


def test_exception_hierarchy():
    assert issubclass(nd.ShapeError, nd.Error) and issubclass(nd.ShapeError, ValueError)
    assert issubclass(nd.AxisError, IndexError) and issubclass(nd.AxisError, ValueError)
    assert issubclass(nd.IndexError, IndexError)
    assert issubclass(nd.DTypeError, TypeError)
    assert issubclass(nd.ValueError, ValueError)
    assert issubclass(nd.IOError, OSError)
    assert issubclass(nd.MemoryError, MemoryError)
    assert issubclass(nd.AutogradError, RuntimeError)
    assert issubclass(nd.LinAlgError, ValueError)
    for cls in (nd.ShapeError, nd.AxisError, nd.IndexError, nd.DTypeError, nd.ValueError,
                nd.IOError, nd.MemoryError, nd.AutogradError, nd.LinAlgError):
        assert issubclass(cls, nd.Error)


def test_each_error_kind_from_the_library():
    a = nd.ones(3, 4)
    with pytest.raises(nd.ShapeError, match=r"could not be broadcast together with shapes \(3,4\) \(2,1,5\)"):
        a + nd.ones(2, 1, 5)
    with pytest.raises(nd.ShapeError):
        a @ nd.ones(3, 4)
    with pytest.raises(nd.AxisError, match="axis"):
        a.sum(axis=2)
    with pytest.raises(nd.IndexError, match="4"):
        a[0, 4]
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(nd.DTypeError):
        nd.tensor([1.0]) & nd.tensor([True])
    with pytest.raises(nd.ShapeError, match="reshape"):
        a.reshape(5, -1)
    with pytest.raises(nd.ValueError):
        a[::0]
    with pytest.raises(nd.MemoryError, match="bytes"):
        nd.zeros(2**40, 2**20)
    with pytest.raises(nd.AutogradError):
        nd.ones(3, requires_grad=True).sum().backward() or nd.ones(3).backward()
    with pytest.raises(nd.AutogradError):
        (nd.ones(2, 2, requires_grad=True) * 2).backward()  # non-scalar without a gradient
    x = nd.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(nd.AutogradError):
        y.backward()  # the graph was freed


def test_errors_are_catchable_as_builtin_classes():
    with pytest.raises(ValueError):
        nd.ones(2) + nd.ones(3)
    with pytest.raises(TypeError):
        nd.ones(2) + "a"  # NotImplemented both ways: Python's TypeError
    with pytest.raises(TypeError):
        nd.ones(2) @ 3


def test_no_error_crashes_the_interpreter():
    # A spread of wrong calls: each raises, none aborts the process.
    calls = [
        lambda: nd.tensor([[1], [2, 3]]),
        lambda: nd.ones(2, 3).permute(0, 0),
        lambda: nd.ones(2).transpose(0, 5),
        lambda: nd.ones(2, 3)[np.array([3])],
        lambda: nd.ones(2, 3)[np.array([True])],
        lambda: nd.ones(2, 3)[1.5],
        lambda: nd.ones(2, 3)[..., ...],
        lambda: nd.ones(2).item(),
        lambda: nd.stack([nd.ones(2), nd.ones(3)]),
        lambda: nd.concatenate([]),
        lambda: nd.randn(-1),
        lambda: nd.arange(0, 5, 0),
        lambda: nd.tensor([1]).squeeze(3),
        lambda: nd.grad(nd.ones(3).sum(), nd.ones(3)),
        lambda: nd.zeros(2, dtype="nope"),
        lambda: nd.ones(3).broadcast_to((2,)),
        lambda: nd.ones(2, 2).backward(nd.ones(3)),
    ]
    for call in calls:
        with pytest.raises(Exception) as info:
            call()
        assert isinstance(info.value, (nd.Error, TypeError, ValueError, IndexError, RuntimeError))
        assert str(info.value)  # a message


def test_strict_broadcasting_names_the_python_line():
    a, b = nd.ones(3, 4), nd.ones(4)
    with nd.strict_broadcast():
        with pytest.raises(nd.ShapeError) as info:
            a + b  # the line named
        line = info.traceback[-1].lineno + 1  # pytest counts from 0
        assert f"test_errors.py:{line}" in str(info.value)
        assert "(3,4)" in str(info.value) and "broadcast_to" in str(info.value)
        assert (a + b.broadcast_to((3, 4))).shape == (3, 4)  # on purpose: allowed
        assert (a * 2.0).shape == (3, 4)  # 0-d operands always broadcast
    assert (a + b).shape == (3, 4)  # off again after the block
    with nd.strict_broadcast("no_rank_promotion"):
        assert (a + nd.ones(1, 4)).shape == (3, 4)
        with pytest.raises(ValueError):
            a + b
    with pytest.raises(ValueError, match="level"):
        nd.strict_broadcast("sometimes")


def test_autograd_advice_is_spelled_for_python():
    w = nd.ones(2, requires_grad=True)
    with pytest.raises(nd.AutogradError, match="with ndgrad.no_grad"):
        w += 1
    with nd.no_grad():
        w += 1
    assert w.tolist() == [2.0, 2.0] and w.is_leaf and w.requires_grad


@pytest.mark.parametrize("returned", ["text", None, 3, [1.0, 2.0, 3.0]])
def test_a_function_that_returns_no_tensor_is_a_type_error_naming_it(returned):
    # jacobian and gradcheck call f from C++: what f returns was cast as a Tensor, and a
    # failed cast surfaced as pybind11's RuntimeError "Unable to cast Python instance".
    x = nd.zeros(3, requires_grad=True)
    with pytest.raises(TypeError, match=f"jacobian: f must return a tensor, got a {type(returned).__name__}"):
        nd.jacobian(lambda v: returned, x)
    with pytest.raises(TypeError, match=f"gradcheck: f must return a tensor, got a {type(returned).__name__}"):
        nd.gradcheck(lambda v: returned, [x])


@pytest.mark.parametrize("call", [
    lambda: nd.full((2,), "a"),
    lambda: nd.full((2,), None),
    lambda: nd.arange("a", 2, 1),
    lambda: nd.randn(2, seed="a"),
    lambda: nd.randn(2, seed=1.5),
    lambda: nd.ones(3).sum(keepdims="yes"),
    lambda: nd.ones(3).var(correction="a"),
    lambda: nd.optim.SGD([{"params": [nd.ones(2, requires_grad=True)], "lr": "x"}], lr=0.1),
])
def test_an_argument_of_the_wrong_type_is_a_type_error_naming_its_type(call):
    # Arguments converted inside a binding (py::cast) failed with pybind11's RuntimeError
    # "Unable to cast Python instance to C++ type", naming neither the type nor the target.
    with pytest.raises(TypeError, match="Unable to cast Python instance of type"):
        call()


def test_advice_in_messages_is_spelled_for_python():
    # The C++ messages advise `.to(DType::i64)` and `retain_graph=true`: from Python they read
    # `.to(ndgrad.int64)` and `retain_graph=True`.
    with pytest.raises(nd.ValueError) as info:
        nd.ones(2).to("uint8") + 300
    assert ".to(ndgrad.int64)" in str(info.value) and "DType::" not in str(info.value)
    w = nd.ones(2, requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(nd.AutogradError) as info:
        loss.backward()
    assert "retain_graph=True" in str(info.value) and "retain_graph=true" not in str(info.value)
    with pytest.raises(nd.DTypeError) as info:
        -nd.tensor([True])
    assert ".to(ndgrad.float32)" in str(info.value)
