"""The built module packs into a wheel that installs into a fresh venv and imports from there."""
import os
import subprocess
import sys

import pytest

import ndgrad as nd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_wheel_installs_into_a_venv_and_imports_outside_the_source_tree(tmp_path):
    pytest.importorskip("pip")
    package_dir = os.path.dirname(nd.__file__)  # the build tree's package
    wheel = run([sys.executable, os.path.join(ROOT, "python", "make_wheel.py"), package_dir,
                 "--out", str(tmp_path / "dist")]).strip()
    assert os.path.basename(wheel).startswith(f"ndgrad-{nd.__version__}-cp")
    venv = tmp_path / "venv"
    # --system-site-packages: NumPy (and pip) from Debian; nothing downloaded.
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)])
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([python, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", wheel],
        env=env, cwd=tmp_path)
    out = run([python, "-c",
               "import ndgrad, numpy as np; print(ndgrad.__file__); "
               "t = ndgrad.tensor([[1.0], [2.0]], requires_grad=True); "
               "(t + ndgrad.ones(1, 3)).sum().backward(); print(t.grad.tolist())"],
              env=env, cwd=tmp_path)
    location, grad = out.splitlines()
    assert location.startswith(str(venv)) and not location.startswith(ROOT)
    assert grad == "[[3.0], [3.0]]"  # each summed over the 3 columns it was broadcast to
