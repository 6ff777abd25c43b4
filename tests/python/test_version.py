"""ndgrad.__version__ is the C++ library's, which CMake writes from project(VERSION ...)."""
import os
import re

import ndgrad as nd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_version_comes_from_the_library_and_matches_cmake_project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        project = re.search(r"project\(ndgrad VERSION (\d+\.\d+\.\d+)", f.read())
    assert project is not None
    assert nd.__version__ == nd._core.__version__ == project.group(1)
