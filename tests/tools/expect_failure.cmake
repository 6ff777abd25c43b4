# Runs CMD with ARGS (a ;-list); passes when it exits non-zero, without crashing, and its
# output matches REGEX.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a non-zero exit, got 0:\n${out}${err}")
endif()
if(NOT rc MATCHES "^[0-9]+$" OR rc GREATER 2)
  message(FATAL_ERROR "expected exit 1 or 2, got '${rc}' (a crash?):\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match '${REGEX}':\n${out}${err}")
endif()
