# fashion_mnist --distributed on 2 ranks (batch 128 a rank) against one process with the same
# global batch (256), 15 epochs of the MLP each: the test accuracies within 0.3 points. Skipped
# when the data set is not installed (make demo installs it).
set(data /usr/share/datasets/fashion-mnist)
if(NOT EXISTS ${data}/train-images-idx3-ubyte.gz AND NOT EXISTS ${data}/train-images-idx3-ubyte)
  message("skipped: no Fashion-MNIST in ${data} (apt-get install dataset-fashion-mnist)")
  return()
endif()
set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1)
set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
set(ENV{NDGRAD_DISTRIBUTED_CHECK} 1)
function(accuracy out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 600)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "test accuracy: ([0-9.]+)")
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(${out_var} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()
accuracy(one ${EXAMPLE} --batch-size 256 --out ${WORK}/one)
accuracy(two ${MPIRUN} --oversubscribe -np 2 ${EXAMPLE} --distributed --batch-size 128
         --out ${WORK}/two)
message(STATUS "one process, batch 256: ${one}; 2 ranks x 128: ${two}")
# CMake's math is integer: compare in units of 0.0001.
string(REGEX REPLACE "^0\\.([0-9][0-9][0-9][0-9]).*" "1\\1" one_i ${one})  # 1xxxx: no leading 0
string(REGEX REPLACE "^0\\.([0-9][0-9][0-9][0-9]).*" "1\\1" two_i ${two})
math(EXPR d "${one_i} - ${two_i}")
if(d LESS 0)
  math(EXPR d "-${d}")
endif()
if(d GREATER 30)
  message(FATAL_ERROR "the accuracies differ by ${d} in units of 0.0001 (more than 0.3 points)")
endif()
