// Strict broadcasting (an ops policy): per-thread levels, the check the broadcasting ops call,
// and the call site named in its message.
#include "ops/strict.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

#include "core/shape.hpp"

#ifdef NDGRAD_BACKTRACE_HEADER  // the libbacktrace GCC ships (CMakeLists.txt finds it)
#include NDGRAD_BACKTRACE_HEADER
#endif

namespace ndgrad {

namespace {

thread_local StrictBroadcast strict_level = StrictBroadcast::off;
thread_local int strict_exempt_depth = 0;

// A symbol's readable name: demangled when it is a C++ one.
std::string readable(const char* symbol) {
  if (!symbol) return "?";
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(symbol, nullptr, nullptr, &status),
                                             std::free);
  return status == 0 && out ? out.get() : symbol;
}

#ifdef NDGRAD_BACKTRACE_HEADER
// The program's debug information and symbols, read on first use (by any thread).
backtrace_state* debug_state() {
  static backtrace_state* const state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}

// file:line (in function) for pc from the debug information of the object that holds it, read
// in-process; empty when that object has none. The innermost inlined frame is the line written.
std::string source_line(uintptr_t pc) {
  backtrace_state* const state = debug_state();
  if (!state) return "";
  std::string found;
  backtrace_pcinfo(
      state, pc,
      [](void* data, uintptr_t, const char* file, int line, const char* function) {
        if (!file || line <= 0) return 0;  // no line here: try the next (outer) frame
        *static_cast<std::string*>(data) =
            std::string(file) + ":" + std::to_string(line) + " (in " + readable(function) + ")";
        return 1;
      },
      [](void*, const char*, int) {}, &found);
  return found;
}
// The function holding pc and pc's offset in it, from the object's symbol table (which, unlike
// dladdr, also lists the executable's own functions); empty when it has none.
std::string symbol_offset(uintptr_t pc) {
  backtrace_state* const state = debug_state();
  std::string found;
  if (state)
    backtrace_syminfo(
        state, pc,
        [](void* data, uintptr_t at, const char* symbol, uintptr_t start, uintptr_t) {
          if (!symbol) return;
          std::ostringstream os;
          os << readable(symbol) << "+0x" << std::hex << (at - start);
          *static_cast<std::string*>(data) = os.str();
        },
        [](void*, const char*, int) {}, &found);
  return found;
}
#else
std::string source_line(uintptr_t) { return ""; }
std::string symbol_offset(uintptr_t) { return ""; }
#endif

}  // namespace

StrictBroadcastGuard::StrictBroadcastGuard(StrictBroadcast level) : previous_(strict_level) {
  strict_level = level;
}
StrictBroadcastGuard::~StrictBroadcastGuard() { strict_level = previous_; }
StrictBroadcast strict_broadcast_level() { return strict_level; }

StrictExemptScope::StrictExemptScope() { ++strict_exempt_depth; }
StrictExemptScope::~StrictExemptScope() { --strict_exempt_depth; }

void check_strict_broadcast(const char* op, const Dims& a, const Dims& b, const Dims& result,
                            const void* call_site) {
  if (strict_level == StrictBroadcast::off || strict_exempt_depth > 0) return;
  auto violates = [&](const Dims& s) {
    if (s.empty()) return false;  // 0-d values (tensor * 2.0) always broadcast
    if (strict_level == StrictBroadcast::no_rank_promotion) return s.size() != result.size();
    return s != result;
  };
  if (!violates(a) && !violates(b)) return;
  const char* what = strict_level == StrictBroadcast::no_rank_promotion
                         ? "strict broadcasting (no rank promotion)"
                         : "strict broadcasting (no implicit broadcast)";
  throw ShapeError(std::string(op) + ": " + what + " refuses shapes " + shape_str(a) + " and " +
                   shape_str(b) + " (they would broadcast to " + shape_str(result) + ") at " +
                   describe_call_site(call_site) + "; call broadcast_to to broadcast on purpose");
}

std::string describe_call_site(const void* return_address) {
  Dl_info info{};
  if (!return_address || !::dladdr(return_address, &info)) return "an unknown call site";
  const uintptr_t pc = reinterpret_cast<uintptr_t>(return_address) - 1;  // the call itself
  if (std::string line = source_line(pc); !line.empty()) return line;
  std::string where = symbol_offset(pc);
  if (where.empty()) {
    std::ostringstream os;
    os << readable(info.dli_sname) << "+0x" << std::hex
       << (pc - reinterpret_cast<uintptr_t>(info.dli_saddr ? info.dli_saddr : info.dli_fbase));
    where = os.str();
  }
  std::ostringstream os;
  os << where << " in " << (info.dli_fname && *info.dli_fname ? info.dli_fname : "the program")
     << " (build with -g to see file:line)";
  return os.str();
}

}  // namespace ndgrad
