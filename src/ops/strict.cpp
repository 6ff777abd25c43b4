// Strict broadcasting (an ops policy): per-thread levels, the check the broadcasting ops call,
// and the call site named in its message: the innermost frame of the user's code, found by
// walking the stack (only when a violation or an audit record needs it).
#include "ops/strict.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <unwind.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/shape.hpp"

#ifdef NDGRAD_BACKTRACE_HEADER  // the libbacktrace GCC ships (CMakeLists.txt finds it)
#include NDGRAD_BACKTRACE_HEADER
#endif

namespace ndgrad {

namespace {

thread_local StrictBroadcast strict_level = StrictBroadcast::off;
thread_local int strict_exempt_depth = 0;
std::atomic<CallSiteHook> call_site_hook{nullptr};

// A symbol's readable name: demangled when it is a C++ one.
std::string readable(const char* symbol) {
  if (!symbol) return "?";
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(symbol, nullptr, nullptr, &status),
                                             std::free);
  return status == 0 && out ? out.get() : symbol;
}

// One level of a frame as the debug information tells it (an inlined function is a level).
struct SourceLevel {
  std::string file, function;
  int line = 0;
};

#ifdef NDGRAD_BACKTRACE_HEADER
// The program's debug information and symbols, read on first use (by any thread).
backtrace_state* debug_state() {
  static backtrace_state* const state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}

// The levels at pc, innermost (inlined) first, from the debug information of the object that
// holds it, read in-process; none when that object has none.
std::vector<SourceLevel> source_levels(uintptr_t pc) {
  std::vector<SourceLevel> levels;
  if (backtrace_state* const state = debug_state())
    backtrace_pcinfo(
        state, pc,
        [](void* data, uintptr_t, const char* file, int line, const char* function) {
          if (file && line > 0)
            static_cast<std::vector<SourceLevel>*>(data)->push_back(
                {file, function ? readable(function) : std::string("?"), line});
          return 0;
        },
        [](void*, const char*, int) {}, &levels);
  return levels;
}
// The function holding pc (mangled) and where it starts, from the object's symbol table
// (which, unlike dladdr, also lists the executable's own functions).
std::pair<std::string, uintptr_t> symbol_at(uintptr_t pc) {
  std::pair<std::string, uintptr_t> found{"", 0};
  if (backtrace_state* const state = debug_state())
    backtrace_syminfo(
        state, pc,
        [](void* data, uintptr_t, const char* symbol, uintptr_t start, uintptr_t) {
          if (symbol) *static_cast<std::pair<std::string, uintptr_t>*>(data) = {symbol, start};
        },
        [](void*, const char*, int) {}, &found);
  return found;
}
#else
std::vector<SourceLevel> source_levels(uintptr_t) { return {}; }
std::pair<std::string, uintptr_t> symbol_at(uintptr_t) { return {"", 0}; }
#endif

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// A demangled name without its return type (function templates carry one: "ndgrad::Tensor
// std::__invoke_impl<...>(...)"): what follows the last top-level space before the parameters.
std::string qualified_name(std::string name) {
  for (size_t at; (at = name.find("(anonymous namespace)")) != std::string::npos;)
    name.replace(at, 21, "{anonymous}");
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '<' || c == '{' || c == '[') ++depth;
    if (c == '>' || c == '}' || c == ']') --depth;
    if (depth == 0 && c == '(') break;
    if (depth == 0 && c == ' ' && !starts_with(name.substr(i + 1), "const")) start = i + 1;
  }
  return name.substr(start);
}

#ifdef NDGRAD_SOURCE_DIR
// Whether file is one of the library's sources: under its source tree's src/, include/ndgrad/
// or python/src/. A relative path (a build that rewrote them, as ccache's base directory does)
// counts when, without its leading "../", it names a file there.
bool library_file(const std::string& file) {
  static const std::string& root = *new std::string(NDGRAD_SOURCE_DIR);  // used at exit
  std::string rest;
  if (file.size() > root.size() && file.compare(0, root.size() + 1, root + "/") == 0) {
    rest = file.substr(root.size() + 1);
  } else if (!file.empty() && file[0] != '/') {
    rest = file;
    while (starts_with(rest, "../") || starts_with(rest, "./")) rest.erase(0, rest.find('/') + 1);
    struct stat st {};
    if (::stat((root + "/" + rest).c_str(), &st) != 0) return false;
  } else {
    return false;
  }
  return starts_with(rest, "src/") || starts_with(rest, "include/ndgrad/") ||
         starts_with(rest, "python/src/");
}
#else
bool library_file(const std::string&) { return false; }
#endif
// The C++ standard library's headers (std::function's invoker, std::invoke, ...).
bool standard_file(const std::string& file) {
  return file.find("/include/c++/") != std::string::npos ||
         file.find("/bits/") != std::string::npos || starts_with(file, "/usr/include/");
}
bool standard_name(const std::string& q) {
  return starts_with(q, "std::") || starts_with(q, "__gnu_cxx::") ||
         starts_with(q, "__cxxabiv1::") || starts_with(q, "pybind11::") ||
         starts_with(q, "_Unwind_");
}
// The unwinder's and the C library's own objects.
bool system_object(const char* path) {
  return path && (std::strstr(path, "/libgcc_s") || std::strstr(path, "/libc.so") ||
                  std::strstr(path, "/libstdc++"));
}

// The user's lambda named in a standard library function's template arguments
// ("std::thread::_State_impl<...<f()::{lambda()#1}> > >::_M_run()" -> "f()::{lambda()#1}"), or
// "" when there is none or it is the library's own.
std::string user_lambda(const std::string& name) {
  const size_t at = name.find("::{lambda(");
  if (at == std::string::npos) return "";
  const size_t end = name.find('}', at);
  int depth = 0;
  size_t start = at;
  while (start > 0) {
    const char c = name[start - 1];
    if (c == ')' || c == ']') ++depth;
    if (c == '(' || c == '[') --depth;
    if (depth == 0 && (c == '<' || c == ',' || c == ' ')) break;
    --start;
  }
  const std::string lambda =
      name.substr(start, end == std::string::npos ? std::string::npos : end + 1 - start);
  if (starts_with(lambda, "ndgrad::") || standard_name(lambda)) return "";
  return lambda;
}

// What a return address tells about its frame: whether it is the user's, and how to name it.
struct FrameInfo {
  bool user = false;
  std::string text;
};

// The object (executable or shared library) the library's code lies in.
const void* library_object() {
  static const void* const base = [] {
    Dl_info info{};
    return ::dladdr(reinterpret_cast<void*>(&check_strict_broadcast), &info) ? info.dli_fbase
                                                                             : nullptr;
  }();
  return base;
}

// "function+0x1c in /path/program (build with -g to see file:line)"
std::string symbol_text(uintptr_t pc, const Dl_info& info, std::string* qualified) {
  auto [symbol, start] = symbol_at(pc);
  if (symbol.empty() && info.dli_sname) {
    symbol = info.dli_sname;
    start = reinterpret_cast<uintptr_t>(info.dli_saddr);
  }
  if (symbol.empty()) {
    if (qualified) qualified->clear();
    start = reinterpret_cast<uintptr_t>(info.dli_fbase);
  }
  const std::string name = symbol.empty() ? std::string("?") : readable(symbol.c_str());
  if (qualified && !symbol.empty()) *qualified = qualified_name(name);
  std::ostringstream os;
  os << name << "+0x" << std::hex << (pc - start) << " in "
     << (info.dli_fname && *info.dli_fname ? info.dli_fname : "the program")
     << " (build with -g to see file:line)";
  return os.str();
}

// Classifies the frame returning to ra. With debug information each level (inlined functions
// too) is judged by its file: the library's source tree and the standard library's headers are
// not the user's. Without it, by the function's name: std:: is not the user's, nor ndgrad::
// in the object that holds the library (user code in namespace ndgrad, linked statically with
// the library and built without -g, cannot be told apart: it is skipped as the library's).
FrameInfo classify(uintptr_t ra) {
  FrameInfo out;
  Dl_info info{};
  if (!ra || !::dladdr(reinterpret_cast<void*>(ra), &info)) return out;
  const uintptr_t pc = ra - 1;  // the call itself
  if (system_object(info.dli_fname)) return out;
  const std::vector<SourceLevel> levels = source_levels(pc);
  if (!levels.empty()) {
    for (const SourceLevel& l : levels)
      if (!library_file(l.file) && !standard_file(l.file)) {
        out.user = true;
        out.text = l.file + ":" + std::to_string(l.line) + " (in " + l.function + ")";
        break;
      }
    return out;
  }
  std::string q;
  out.text = symbol_text(pc, info, &q);
  if (q.empty()) return out;  // nameless: nothing to tell the user
  if (standard_name(q)) {
    // A user's lambda that the standard library inlined (std::function's invoker, std::thread's
    // runner) is the user's code: named by the lambda, the function that wrote it included.
    const std::string lambda = user_lambda(q);
    if (!lambda.empty()) {
      out.user = true;
      out.text = lambda + " (inside " + out.text.substr(0, out.text.find(" (build with -g")) +
                 "; build with -g to see file:line)";
    }
    return out;
  }
  out.user = !(starts_with(q, "ndgrad::") && info.dli_fbase == library_object());
  return out;
}

// classify(), remembered per address (a program has few call sites).
FrameInfo frame_info(uintptr_t ra) {
  static std::mutex* const lock = new std::mutex;  // never destroyed: used at exit
  static auto* const cache = new std::unordered_map<uintptr_t, FrameInfo>;
  {
    std::lock_guard<std::mutex> hold(*lock);
    if (auto it = cache->find(ra); it != cache->end()) return it->second;
  }
  FrameInfo info = classify(ra);
  std::lock_guard<std::mutex> hold(*lock);
  return cache->emplace(ra, std::move(info)).first->second;
}

// The innermost user frame's return address on this thread's stack, or 0.
uintptr_t innermost_user_frame() {
  struct Walk {
    uintptr_t found = 0;
    int frames = 0;
  } walk;
  _Unwind_Backtrace(
      [](_Unwind_Context* context, void* data) {
        auto* w = static_cast<Walk*>(data);
        const uintptr_t ra = _Unwind_GetIP(context);
        if (!ra || ++w->frames > 256) return _URC_END_OF_STACK;
        if (!frame_info(ra).user) return _URC_NO_REASON;
        w->found = ra;
        return _URC_END_OF_STACK;
      },
      &walk);
  return walk.found;
}

// The message the strict levels give, and the warning.
std::string refusal(const char* op, const char* what, const Dims& a, const Dims& b,
                    const Dims& result, const std::string& site) {
  return std::string(op) + ": " + what + " refuses shapes " + shape_str(a) + " and " +
         shape_str(b) + " (they would broadcast to " + shape_str(result) + ") at " + site +
         "; call broadcast_to to broadcast on purpose";
}

// warn: once per call site and op, for the whole process.
void warn_once(const char* op, const Dims& a, const Dims& b, const Dims& result,
               const void* call_site) {
  static std::mutex* const lock = new std::mutex;
  static auto* const warned = new std::set<std::pair<CallSiteKey, std::string>>;
  CallSiteKey key = call_site_key(call_site);
  {
    std::lock_guard<std::mutex> hold(*lock);
    if (!warned->emplace(key, op).second) return;
  }
  const std::string line = std::string("ndgrad warning: ") + op + ": implicit broadcast of " +
                           shape_str(a) + " and " + shape_str(b) + " to " + shape_str(result) +
                           " at " + describe_call_site(key) +
                           " (strict broadcasting, warn level; broadcast_to makes it explicit)\n";
  std::fputs(line.c_str(), stderr);
}

void check_pair(const char* op, const Dims& a, const Dims& b, const Dims& result,
                const void* call_site) {
  const StrictBroadcast level = strict_level;
  if (level == StrictBroadcast::off) return;
  auto violates = [&](const Dims& s) {
    if (s.empty()) return false;  // 0-d values (tensor * 2.0) always broadcast
    if (level == StrictBroadcast::no_rank_promotion) return s.size() != result.size();
    return s != result;
  };
  if (!violates(a) && !violates(b)) return;
  if (level == StrictBroadcast::warn) return warn_once(op, a, b, result, call_site);
  const char* what = level == StrictBroadcast::no_rank_promotion
                         ? "strict broadcasting (no rank promotion)"
                         : "strict broadcasting (no implicit broadcast)";
  throw ShapeError(refusal(op, what, a, b, result, describe_call_site(call_site)));
}

}  // namespace

StrictBroadcastGuard::StrictBroadcastGuard(StrictBroadcast level) : previous_(strict_level) {
  strict_level = level;
}
StrictBroadcastGuard::~StrictBroadcastGuard() { strict_level = previous_; }
StrictBroadcast strict_broadcast_level() { return strict_level; }

StrictExemptScope::StrictExemptScope() { ++strict_exempt_depth; }
StrictExemptScope::~StrictExemptScope() { --strict_exempt_depth; }

void set_call_site_hook(CallSiteHook hook) { call_site_hook.store(hook); }

void check_strict_broadcast(const char* op, const Dims& a, const Dims& b, const Dims& result,
                            const void* call_site) {
  if (strict_exempt_depth > 0) return;
  if (broadcast_audit_on()) {  // first: a broadcast that strict mode refuses is recorded too
    const Dims* operands[] = {&a, &b};
    audit_broadcast(op, operands, 2, result, call_site);
  }
  check_pair(op, a, b, result, call_site);
}

void check_strict_broadcast_where(const Dims& condition, const Dims& a, const Dims& b,
                                  const Dims& result, const void* call_site) {
  if (strict_exempt_depth > 0) return;
  if (broadcast_audit_on() && !(condition == result && a == result && b == result)) {
    const Dims* operands[] = {&condition, &a, &b};
    audit_broadcast("where", operands, 3, result, call_site);
  }
  check_pair("where", condition, a, result, call_site);
  check_pair("where", a, b, result, call_site);
}

CallSiteKey call_site_key(const void* return_address) {
  CallSiteKey key;
  if (const CallSiteHook hook = call_site_hook.load()) key.text = hook();
  if (!key.text.empty()) return key;
  key.pc = innermost_user_frame();
  if (!key.pc) key.pc = reinterpret_cast<uintptr_t>(return_address);
  return key;
}

std::string describe_call_site(const CallSiteKey& key) {
  if (!key.text.empty()) return key.text;
  if (!key.pc) return "an unknown call site";
  FrameInfo info = frame_info(key.pc);
  if (info.text.empty()) {  // the op's own caller, whatever it is
    Dl_info dl{};
    if (!::dladdr(reinterpret_cast<void*>(key.pc), &dl)) return "an unknown call site";
    const std::vector<SourceLevel> levels = source_levels(key.pc - 1);
    if (!levels.empty())
      return levels[0].file + ":" + std::to_string(levels[0].line) + " (in " + levels[0].function +
             ")";
    return symbol_text(key.pc - 1, dl, nullptr);
  }
  return info.text;
}

std::string describe_call_site(const void* return_address) {
  return describe_call_site(call_site_key(return_address));
}

}  // namespace ndgrad
