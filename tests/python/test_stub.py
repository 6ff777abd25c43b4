"""The .pyi stub (for editors) names everything the module has."""
import ast
import os

import ndgrad
import ndgrad._core as core


def stub():
    path = os.path.join(os.path.dirname(ndgrad.__file__), "_core.pyi")
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def names(body):
    out = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, ast.Assign):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def test_every_public_name_of_the_core_is_in_the_stub():
    tree = stub()
    declared = names(tree.body)
    public = {n for n in dir(core) if not n.startswith("_")} | ({"__version__"} & set(dir(core)))
    assert public - declared == set()
    assert declared - public - {"DTypeLike", "Number", "TensorLike", "Axis", "Index"} == set()


def test_every_tensor_method_is_in_the_stub():
    tree = stub()
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor"]
    declared = names(cls.body)
    public = {n for n in vars(core.Tensor) if not n.startswith("_")}
    dunder = {n for n in vars(core.Tensor) if n.startswith("__") and n not in (
        "__doc__", "__module__", "__init__", "__repr__", "__str__", "__copy__", "__deepcopy__",
        "__array_ufunc__", "__reduce__", "__dict__", "__weakref__")}
    assert (public | dunder) - declared == set()


def has_doc(obj):
    # pybind11 puts the signature on the first line; the description follows.
    lines = (obj.__doc__ or "").strip().splitlines()
    return any(line.strip() for line in lines[1:])


def test_every_function_and_method_has_a_docstring():
    functions = [n for n in dir(core) if not n.startswith("_")
                 and callable(getattr(core, n)) and not isinstance(getattr(core, n), type)]
    assert [n for n in functions if not has_doc(getattr(core, n))] == []
    methods = [n for n, v in vars(core.Tensor).items() if not n.startswith("_") and callable(v)]
    assert [n for n in methods if not has_doc(getattr(core.Tensor, n))] == []
    for name in ("Tensor", "dtype", "CustomOp", "strict_broadcast", "Error", "ShapeError"):
        assert getattr(core, name).__doc__
