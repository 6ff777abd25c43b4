# Configures, builds and runs the consumer project in one mode.
# -DMODE=subdirectory|package|deb -DSOURCE=<ndgrad source> -DWORK=<scratch dir> -DVERSION=<x.y.z>
# [-DBUILD=<ndgrad build>] [-DCPACK=<cpack>] [-DCXX=<C++ compiler>]
#   subdirectory: add_subdirectory(ndgrad), which adds only the library, and install rules only
#                 with NDGRAD_INSTALL=ON.
#   package:      find_package(ndgrad) in `cmake --install` of the build.
#   deb:          `cpack -G DEB` of the build, unpacked with dpkg-deb -x (no root, nothing
#                 installed), used through find_package and through pkg-config.
file(REMOVE_RECURSE ${WORK})
set(launcher "")
find_program(CCACHE ccache)
if(CCACHE)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE})
endif()
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
# Runs a built consumer: it must pass and name the headers' version, which must be VERSION.
function(run_consumer program)
  execute_process(COMMAND ${program} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message(STATUS "${program}: ${out}")
  if(NOT rc EQUAL 0 OR NOT out MATCHES "ndgrad ${VERSION} \\(library ${VERSION}\\)")
    message(FATAL_ERROR "failed (${rc}), or not version ${VERSION}: ${program}")
  endif()
endfunction()
function(check_exists)
  foreach(path ${ARGN})
    if(NOT EXISTS ${path})
      message(FATAL_ERROR "missing: ${path}")
    endif()
  endforeach()
endfunction()
function(build_consumer build_dir)
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer -B ${build_dir} -DCMAKE_BUILD_TYPE=Release
      ${ARGN} ${launcher})
  run(${CMAKE_COMMAND} --build ${build_dir} -j2)
  run_consumer(${build_dir}/consumer)
  if(EXPECT_DISTRIBUTED)  # the package holds ndgrad::distributed: a program links it
    if(NOT EXISTS ${build_dir}/consumer_distributed)
      message(FATAL_ERROR "the package has no ndgrad::distributed")
    endif()
    run(${build_dir}/consumer_distributed)
  endif()
endfunction()

if(MODE STREQUAL "package")
  run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
  build_consumer(${WORK}/build -DNDGRAD_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH=${WORK}/prefix)

elseif(MODE STREQUAL "subdirectory")
  build_consumer(${WORK}/build -DNDGRAD_CONSUMER_MODE=subdirectory -DNDGRAD_SOURCE_DIR=${SOURCE})
  # The parent's install holds its own program alone...
  run(${CMAKE_COMMAND} --install ${WORK}/build --prefix ${WORK}/install)
  file(GLOB_RECURSE installed RELATIVE ${WORK}/install ${WORK}/install/*)
  if(NOT installed STREQUAL "bin/consumer")
    message(FATAL_ERROR "ndgrad as a subproject added to the parent's install: ${installed}")
  endif()
  # ...and ndgrad's library, headers, CMake package and ndgrad.pc with NDGRAD_INSTALL=ON.
  run(${CMAKE_COMMAND} -DNDGRAD_INSTALL=ON ${WORK}/build)
  run(${CMAKE_COMMAND} --install ${WORK}/build --prefix ${WORK}/install_on)
  check_exists(${WORK}/install_on/include/ndgrad/ndgrad.hpp
               ${WORK}/install_on/include/ndgrad/version.hpp
               ${WORK}/install_on/lib/libndgrad.a
               ${WORK}/install_on/lib/cmake/ndgrad/ndgradConfig.cmake
               ${WORK}/install_on/lib/pkgconfig/ndgrad.pc)

elseif(MODE STREQUAL "deb")
  run(${CPACK} -G DEB --config ${BUILD}/CPackConfig.cmake -B ${WORK}/pkg)
  file(GLOB deb ${WORK}/pkg/libndgrad-dev_${VERSION}*.deb)
  list(LENGTH deb n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "expected one libndgrad-dev_${VERSION}*.deb in ${WORK}/pkg, found: ${deb}")
  endif()
  foreach(field Package Depends Recommends)
    execute_process(COMMAND dpkg-deb -f ${deb} ${field} OUTPUT_VARIABLE value
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(control_${field} "${value}")
  endforeach()
  message(STATUS "${deb}: Depends: ${control_Depends}; Recommends: ${control_Recommends}")
  if(NOT control_Package STREQUAL "libndgrad-dev" OR NOT control_Depends MATCHES "zlib1g-dev"
     OR NOT control_Recommends MATCHES "libopenblas0")
    message(FATAL_ERROR "wrong control fields in ${deb}")
  endif()
  run(dpkg-deb -x ${deb} ${WORK}/root)
  file(GLOB_RECURSE files RELATIVE ${WORK}/root ${WORK}/root/*)
  message(STATUS "${deb} holds: ${files}")
  file(GLOB_RECURSE pc ${WORK}/root/usr/*/ndgrad.pc)
  file(GLOB_RECURSE lib ${WORK}/root/usr/*/libndgrad.a)
  file(GLOB_RECURSE config ${WORK}/root/usr/*/ndgradConfig.cmake)
  if(NOT pc OR NOT lib OR NOT config OR EXISTS ${WORK}/root/usr/bin)
    message(FATAL_ERROR "the package lacks ndgrad.pc, libndgrad.a or ndgradConfig.cmake, "
                        "or holds programs")
  endif()
  check_exists(${WORK}/root/usr/include/ndgrad/ndgrad.hpp
               ${WORK}/root/usr/include/ndgrad/version.hpp)

  # CMake: find_package through CMAKE_PREFIX_PATH, and the package found is the unpacked one.
  build_consumer(${WORK}/cmake -DNDGRAD_CONSUMER_MODE=package -DCMAKE_PREFIX_PATH=${WORK}/root/usr)
  file(STRINGS ${WORK}/cmake/CMakeCache.txt found REGEX "^ndgrad_DIR:")
  if(NOT found MATCHES "=${WORK}/root/usr/")
    message(FATAL_ERROR "find_package found another ndgrad: ${found}")
  endif()

  # pkg-config: the .pc's prefix follows the file, so the unpacked tree works where it lies.
  find_program(PKG_CONFIG NAMES pkg-config pkgconf)
  if(NOT PKG_CONFIG)
    message(FATAL_ERROR "pkg-config not found (on Debian: apt-get install pkg-config)")
  endif()
  get_filename_component(pc_dir ${pc} DIRECTORY)
  foreach(what cflags libs)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir}
                            ${PKG_CONFIG} --${what} ndgrad
                    RESULT_VARIABLE rc OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --${what} ndgrad failed (${rc})")
    endif()
    message(STATUS "pkg-config --${what} ndgrad: ${flags}")
    separate_arguments(${what} UNIX_COMMAND "${flags}")
  endforeach()
  if(NOT cflags MATCHES "-I${WORK}/root/" OR NOT libs MATCHES "-L${WORK}/root/")
    message(FATAL_ERROR "ndgrad.pc does not point into the unpacked tree ${WORK}/root")
  endif()
  set(compile ${CXX})
  if(CCACHE)
    set(compile ${CCACHE} ${CXX})
  endif()
  file(MAKE_DIRECTORY ${WORK}/pkgconfig)
  foreach(source main api_contract)
    run(${compile} -O1 ${cflags} -c ${SOURCE}/tests/consumer/${source}.cpp
        -o ${WORK}/pkgconfig/${source}.o)
  endforeach()
  run(${CXX} ${WORK}/pkgconfig/main.o ${WORK}/pkgconfig/api_contract.o
      -o ${WORK}/pkgconfig/consumer ${libs})
  run_consumer(${WORK}/pkgconfig/consumer)
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
