#pragma once
// Strict broadcasting state (per thread) and the check the broadcasting ops call.
#include <atomic>
#include <string>

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

// where's check: its three operands are recorded as one broadcast.
void check_strict_broadcast_where(const Dims& condition, const Dims& a, const Dims& b,
                                  const Dims& result, const void* call_site);

// The call site of the public op that returns to return_address: the front end's (the Python
// file:line) where its hook names one, else the innermost frame outside the library and the
// standard library ("file.cpp:42 (in function)" with debug information, else the function and
// offset), else the op's own caller. Walks the stack: for violations and records only.
std::string describe_call_site(const void* return_address);

// The same call site as a key that is cheap to compare: the innermost user frame's address (or
// the op's caller's), and the front end's text where its hook names one.
struct CallSiteKey {
  uintptr_t pc = 0;
  std::string text;  // from the front end's hook; empty otherwise
  bool operator<(const CallSiteKey& o) const { return pc != o.pc ? pc < o.pc : text < o.text; }
  bool operator==(const CallSiteKey& o) const { return pc == o.pc && text == o.text; }
};
CallSiteKey call_site_key(const void* return_address);
std::string describe_call_site(const CallSiteKey& key);

// The broadcast audit (src/ops/audit.cpp): the count of live audits, read where the strict
// check happens, so that an audit costs one relaxed load when none is alive.
namespace detail {
extern std::atomic<int> live_broadcast_audits;
}
inline bool broadcast_audit_on() {
  return detail::live_broadcast_audits.load(std::memory_order_relaxed) > 0;
}
// Records a broadcast of n operands (called by the strict check while an audit is alive).
void audit_broadcast(const char* op, const Dims* const* operands, int n, const Dims& result,
                     const void* call_site);
// Records that backward summed a gradient of grad_shape to leaf's shape (the engine, while an
// audit is alive).
void audit_leaf_sum(const void* leaf, const Dims& shape, const Dims& grad_shape, const char* op);

}  // namespace ndgrad
