// Strict broadcasting (an ops policy): per-thread levels, the check the broadcasting ops call,
// and the call site named in its message.
#include "ops/strict.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "core/shape.hpp"

namespace ndgrad {

namespace {

thread_local StrictBroadcast strict_level = StrictBroadcast::off;
thread_local int strict_exempt_depth = 0;

std::string run_command(const std::string& cmd) {
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

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
  const std::string object =
      info.dli_fname && *info.dli_fname ? info.dli_fname : std::string("/proc/self/exe");
  const uintptr_t pc = reinterpret_cast<uintptr_t>(return_address) - 1;  // the call itself
  const uintptr_t relative = pc - reinterpret_cast<uintptr_t>(info.dli_fbase);
  for (uintptr_t addr : {relative, pc}) {  // position-independent, then absolute addresses
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(addr));
    std::istringstream lines(
        run_command("addr2line -C -f -e " + quoted(object) + " " + hex + " 2>/dev/null"));
    std::string function, location;
    if (std::getline(lines, function) && std::getline(lines, location) &&
        location.rfind("??", 0) != 0 && location.find(":0") == std::string::npos) {
      const size_t discr = location.find(" (discriminator");
      if (discr != std::string::npos) location.resize(discr);
      return location + " (in " + function + ")";
    }
  }
  std::ostringstream os;
  os << (info.dli_sname ? info.dli_sname : "?") << "+0x" << std::hex
     << (pc - reinterpret_cast<uintptr_t>(info.dli_saddr ? info.dli_saddr : info.dli_fbase))
     << " in " << object << " (build with -g to see file:line)";
  return os.str();
}

}  // namespace ndgrad
