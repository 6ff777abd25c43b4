#pragma once
// Strict broadcasting state (per thread) and the check the broadcasting ops call.
#include "core/dims.hpp"
#include "ndgrad/explain.hpp"

namespace ndgrad {

// While alive, the library's own broadcasting (backward passes, composites) is not checked.
class StrictExemptScope {
 public:
  StrictExemptScope();
  ~StrictExemptScope();
  StrictExemptScope(const StrictExemptScope&) = delete;
  StrictExemptScope& operator=(const StrictExemptScope&) = delete;
};

// Throws ShapeError when strict mode refuses broadcasting operand to result for op;
// call_site is the return address in the caller of the public op.
void check_strict_broadcast(const char* op, const Dims& a, const Dims& b, const Dims& result,
                            const void* call_site);

// "file.cpp:42 (in function)" for a return address, when debug information allows.
std::string describe_call_site(const void* return_address);

}  // namespace ndgrad
