# Runs CMD gradcheck on an expression too long to write into a test's arguments, built here:
# KIND parentheses: COUNT nested pairs around x; minus: COUNT unary minuses before x; sum: a flat
# sum of COUNT terms. EXPECT pass: exit 0; EXPECT fail: exit 1 or 2 (not a crash). The output
# must match REGEX either way.
if(KIND STREQUAL "parentheses")
  string(REPEAT "(" ${COUNT} open)
  string(REPEAT ")" ${COUNT} close)
  set(expr "${open}x${close}")
elseif(KIND STREQUAL "minus")
  string(REPEAT "-" ${COUNT} minuses)
  set(expr "${minuses}x")
elseif(KIND STREQUAL "sum")
  math(EXPR rest "${COUNT} - 1")
  string(REPEAT "+x" ${rest} terms)  # compact: one argument holds at most 128 KiB
  set(expr "x${terms}")
else()
  message(FATAL_ERROR "unknown KIND '${KIND}'")
endif()
execute_process(COMMAND ${CMD} gradcheck "${expr}" --shape x=2
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(EXPECT STREQUAL "pass" AND NOT rc EQUAL 0)
  message(FATAL_ERROR "expected exit 0, got '${rc}':\n${out}${err}")
endif()
if(EXPECT STREQUAL "fail" AND (rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$" OR rc GREATER 2))
  message(FATAL_ERROR "expected exit 1 or 2, got '${rc}' (a crash?):\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "output does not match '${REGEX}':\n${out}${err}")
endif()
