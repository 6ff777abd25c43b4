"""Packs the built module (build/python/ndgrad) into a wheel, with the standard library alone.

    python3 python/make_wheel.py build/python/ndgrad --out build/python/dist

The wheel holds the package as built (the extension links the library statically), tagged for
the interpreter running this script; `python3 -m pip install --no-index <wheel>` installs it.
"""

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile

NAME = "ndgrad"


def version_of(package_dir):
    """The built package's ndgrad.__version__ (the C++ library's, from CMake's project VERSION)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(package_dir))
    result = subprocess.run([sys.executable, "-c", "import ndgrad; print(ndgrad.__version__)"],
                            capture_output=True, text=True, env=env,
                            cwd=os.path.dirname(package_dir))
    if result.returncode != 0 or not result.stdout.strip():
        raise SystemExit(f"make_wheel: cannot import ndgrad from {package_dir} for its "
                         f"__version__:\n{result.stderr}")
    return result.stdout.strip()


def tag():
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{python}-{python}{sys.abiflags}-{platform}"


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", help="the built package: build/python/ndgrad")
    parser.add_argument("--out", required=True, help="the directory the wheel goes to")
    args = parser.parse_args()
    package_dir = os.path.abspath(args.package_dir)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    files = sorted(f for f in os.listdir(package_dir)
                   if f.endswith((".py", ".pyi", suffix)) or f == "py.typed")
    if not any(f.endswith(suffix) for f in files):
        raise SystemExit(f"make_wheel: no extension *{suffix} in {package_dir}: build it first")
    version = version_of(package_dir)
    dist_info = f"{NAME}-{version}.dist-info"
    wheel_name = f"{NAME}-{version}-{tag()}.whl"
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, wheel_name)
    metadata = (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n"
                "Summary: Tensors with NumPy broadcasting and reverse-mode autodiff\n"
                "Requires-Dist: numpy\n").encode()
    wheel = (f"Wheel-Version: 1.0\nGenerator: ndgrad make_wheel.py\nRoot-Is-Purelib: false\n"
             f"Tag: {tag()}\n").encode()
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            with open(os.path.join(package_dir, f), "rb") as src:
                data = src.read()
            z.writestr(f"{NAME}/{f}", data)
            records.append(record_line(f"{NAME}/{f}", data))
        for name, data in (("METADATA", metadata), ("WHEEL", wheel)):
            z.writestr(f"{dist_info}/{name}", data)
            records.append(record_line(f"{dist_info}/{name}", data))
        records.append(f"{dist_info}/RECORD,,")
        z.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    print(path)


if __name__ == "__main__":
    main()
