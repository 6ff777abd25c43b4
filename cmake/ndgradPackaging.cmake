# `cpack -G DEB` in the build directory -> libndgrad-dev_<version>_<arch>.deb: the headers, the
# static library, the CMake package (find_package(ndgrad)) and ndgrad.pc. The command-line tool
# (component Tools) is not part of it. Included only when ndgrad is the top-level project.
set(NDGRAD_PACKAGE_MAINTAINER "ndgrad maintainers" CACHE STRING
    "The Debian package's Maintainer field: \"Name <email>\"")

set(CPACK_PACKAGE_NAME libndgrad-dev)
set(CPACK_PACKAGE_VENDOR "ndgrad")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION} (C++17 library)")
set(CPACK_PACKAGE_DESCRIPTION
    "ndgrad is a C++17 tensor library: NumPy broadcasting, reverse-mode automatic\n"
    "differentiation, neural network layers and optimizers. This package holds the headers,\n"
    "the static library, the CMake package (find_package(ndgrad)) and the pkg-config file.\n"
    "Matrix products use OpenBLAS when it is installed (it is opened at run time).")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "${NDGRAD_PACKAGE_MAINTAINER}")
set(CPACK_COMPONENTS_ALL Development)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_PACKAGE_NAME libndgrad-dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NDGRAD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# The static library's users link zlib and, when ndgrad was built with it, GCC's libbacktrace.a
# (from the libgcc-N-dev of the GCC that built it; found with dpkg-query where there is one).
set(ndgrad_depends "zlib1g-dev")
if(NDGRAD_BACKTRACE_LIB)
  find_program(NDGRAD_DPKG_QUERY dpkg-query)
  if(NDGRAD_DPKG_QUERY)
    execute_process(COMMAND ${NDGRAD_DPKG_QUERY} -S "${NDGRAD_BACKTRACE_LIB}"
                    OUTPUT_VARIABLE owner ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(owner MATCHES "^([a-z0-9.+-]+)(:[a-z0-9]+)?: ")
      string(APPEND ndgrad_depends ", ${CMAKE_MATCH_1}")
    endif()
  endif()
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${ndgrad_depends}")
# OpenBLAS is dlopened at run time for fast matrix products; without it ndgrad's own GEMM runs.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0")
if(NDGRAD_WITH_DISTRIBUTED)  # libndgrad_distributed.a needs MPI's headers and libraries
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0, libopenmpi-dev")
endif()
include(CPack)
