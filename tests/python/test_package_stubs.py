"""The .pyi stubs of ndgrad.nn, optim, data and checkpoint name everything the modules have
(classes' members included, through the stub's base classes), with the Python functions'
parameter names."""
import ast
import inspect
import os

import pytest

import ndgrad
from ndgrad import checkpoint, data, nn, optim

MODULES = [nn, optim, data, checkpoint]


def parse(module):
    path = os.path.join(os.path.dirname(ndgrad.__file__), module.__name__.split(".")[-1] + ".pyi")
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def declared(body):
    out = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            out.update((t.id, node) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            out.update((a.asname or a.name, node) for a in node.names)
    return out


def class_members(node, scope):
    """What a stub class declares, its stub bases' declarations included."""
    names = set(declared(node.body))
    for base in node.bases:
        if isinstance(base, ast.Name) and isinstance(scope.get(base.id), ast.ClassDef):
            names |= class_members(scope[base.id], scope)
    return names


def public(obj):
    base = set(dir(object)) | set(dir(type(ndgrad.Tensor)))  # pybind11's own members
    return {n for n in dir(obj) if not n.startswith("_") and n not in base}


def check_signature(name, fn, node):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a C++ function: its signature is the binding's
    if "pybind11" in type(fn).__name__ or not hasattr(fn, "__code__"):
        return
    stub_args = [a.arg for a in node.args.args + node.args.kwonlyargs if a.arg != "self"]
    if node.args.vararg:
        stub_args.append(node.args.vararg.arg)
    if node.args.kwarg:
        stub_args.append(node.args.kwarg.arg)
    real = [p for p in sig.parameters if p != "self"]
    assert stub_args == real, (name, stub_args, real)


def check_class(cls, node, scope, where):
    members = class_members(node, scope)
    missing = public(cls) - members
    assert missing == set(), (where, missing)
    inner = declared(node.body)
    for n in public(cls):
        v = inspect.getattr_static(cls, n)
        if isinstance(v, staticmethod):
            v = v.__func__
        if isinstance(v, type) and isinstance(inner.get(n), ast.ClassDef):
            check_class(v, inner[n], {**scope, **inner}, f"{where}.{n}")
        elif inspect.isfunction(v) and isinstance(inner.get(n), ast.FunctionDef):
            check_signature(f"{where}.{n}", v, inner[n])


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_every_public_name_is_in_the_stub(module):
    scope = declared(parse(module).body)
    names = {n for n in vars(module) if not n.startswith("_") and not inspect.ismodule(
        getattr(module, n))}
    assert names - set(scope) == set()
    stubbed = {n for n in scope if not n.startswith("_")}
    assert stubbed - names - {"Any", "Iterable", "Iterator", "Optional", "Sequence", "Tuple",
                              "Union", "ParamGroup", "Module", "Optimizer", "Tensor"} == set()
    for n in names:
        v = getattr(module, n)
        node = scope[n]
        if isinstance(v, type) and isinstance(node, ast.ClassDef):
            check_class(v, node, scope, f"{module.__name__}.{n}")
        elif inspect.isfunction(v) and isinstance(node, ast.FunctionDef):
            check_signature(f"{module.__name__}.{n}", v, node)


def test_the_check_sees_a_missing_member():
    tree = ast.parse("class A:\n    def f(self) -> None: ...\n")
    scope = declared(tree.body)

    class A:
        def f(self):
            pass

        def g(self):
            pass

    with pytest.raises(AssertionError):
        check_class(A, scope["A"], scope, "A")
