# ndgrad.pc for pkg-config, installed under <libdir>/pkgconfig (included from CMakeLists.txt
# inside if(NDGRAD_INSTALL), after the library's links are known).
#
# A static libndgrad.a carries none of its own dependencies, so its users must link them: those
# go in Libs and Requires (a plain `pkg-config --libs ndgrad` links), and in Libs.private and
# Requires.private for a shared library (-DBUILD_SHARED_LIBS=ON), which records them itself.
set(NDGRAD_PC_LIBS "")
if(TARGET ndgrad AND NDGRAD_BACKTRACE_LIB)
  get_target_property(ndgrad_links ndgrad LINK_LIBRARIES)
  if("${NDGRAD_BACKTRACE_LIB}" IN_LIST ndgrad_links)
    # GCC's libbacktrace.a lives in GCC's own library directory, which g++ (and clang, through
    # the GCC installation it uses) search by themselves.
    string(APPEND NDGRAD_PC_LIBS " -lbacktrace")
  endif()
endif()
string(APPEND NDGRAD_PC_LIBS " -lpthread")
foreach(lib ${CMAKE_DL_LIBS})
  string(APPEND NDGRAD_PC_LIBS " -l${lib}")
endforeach()
string(STRIP "${NDGRAD_PC_LIBS}" NDGRAD_PC_LIBS)

get_target_property(ndgrad_type ndgrad TYPE)
if(ndgrad_type STREQUAL "STATIC_LIBRARY")
  set(NDGRAD_PC_REQUIRES "Requires: zlib")
  set(NDGRAD_PC_LINK "Libs: -L\${libdir} -lndgrad ${NDGRAD_PC_LIBS}")
else()
  set(NDGRAD_PC_REQUIRES "Requires.private: zlib")
  set(NDGRAD_PC_LINK "Libs: -L\${libdir} -lndgrad\nLibs.private: ${NDGRAD_PC_LIBS}")
endif()

# The prefix relative to the .pc file's directory (../.. for lib/pkgconfig, one more for a
# multiarch lib/x86_64-linux-gnu): the installed tree stays relocatable. An absolute libdir or
# includedir is written as it is.
file(RELATIVE_PATH NDGRAD_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" NDGRAD_PC_TO_PREFIX "${NDGRAD_PC_TO_PREFIX}")
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(NDGRAD_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(NDGRAD_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(NDGRAD_PC_TO_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  set(NDGRAD_PC_TO_PREFIX "\${pcfiledir}/${NDGRAD_PC_TO_PREFIX}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/ndgrad.pc.in ${CMAKE_CURRENT_BINARY_DIR}/ndgrad.pc
               @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/ndgrad.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)
