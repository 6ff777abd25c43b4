// explain_broadcast, strict broadcasting, and the backward graph as DOT.
#include <dlfcn.h>

#include <cstdio>
#include <map>
#include <sstream>

#include "autograd/node.hpp"
#include "autograd/strict.hpp"
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

BroadcastExplanation explain_broadcast(const Shape& a, const Shape& b) {
  BroadcastExplanation e;
  e.a = a;
  e.b = b;
  const size_t n = std::max(a.size(), b.size());
  e.a_padded = Shape(n - a.size(), 1);
  e.a_padded.insert(e.a_padded.end(), a.begin(), a.end());
  e.b_padded = Shape(n - b.size(), 1);
  e.b_padded.insert(e.b_padded.end(), b.begin(), b.end());
  e.compatible = true;
  e.result = Shape(n);
  for (size_t k = n; k-- > 0;) {
    const int64_t da = e.a_padded[k], db = e.b_padded[k];
    const bool ok = da == db || da == 1 || db == 1;
    const int64_t r = da == 1 ? db : da;
    e.dims.push_back({static_cast<int64_t>(k), da, db, r, ok});
    if (!ok && e.compatible) {
      e.compatible = false;
      e.failing_axis = static_cast<int64_t>(k);
    }
    e.result[k] = r;
  }
  std::ostringstream t;
  t << "Broadcasting " << shape_str(a) << " with " << shape_str(b) << "\n\n";
  t << "Step 1: pad the shorter shape with leading ones, so both have " << n << " axes\n";
  t << "  a: " << shape_str(a)
    << (a.size() < n ? " -> " + shape_str(e.a_padded) : std::string(" (unchanged)")) << "\n";
  t << "  b: " << shape_str(b)
    << (b.size() < n ? " -> " + shape_str(e.b_padded) : std::string(" (unchanged)")) << "\n\n";
  t << "Step 2: compare the axes right to left: sizes must be equal, or one of them 1\n";
  for (const auto& d : e.dims) {
    t << "  axis " << d.axis << " (" << d.axis - static_cast<int64_t>(n) << "): " << d.a << " vs "
      << d.b << " -> ";
    if (!d.ok) {
      t << "INCOMPATIBLE: " << d.a << " and " << d.b << " differ and neither is 1\n";
      break;
    }
    if (d.a == d.b)
      t << d.result << " (equal)\n";
    else
      t << d.result << " (" << (d.a == 1 ? "a" : "b") << " is stretched along this axis)\n";
  }
  if (!e.compatible) {
    e.result.clear();
    t << "\nResult: operands could not be broadcast together with shapes " << shape_str(a) << " "
      << shape_str(b) << "\n";
    e.text = t.str();
    return e;
  }
  t << "\nResult shape: " << shape_str(e.result) << "\n\n";
  t << "Backward: the gradient arrives with shape " << shape_str(e.result)
    << "; each operand gets the sum over the axes it was broadcast along\n";
  auto reduction = [&](const Shape& op, const char* name, BroadcastExplanation::Reduction& r) {
    unbroadcast_axes(e.result, op, 0, r.summed_axes, r.squeezed);
    t << "  " << name << " " << shape_str(op) << ": ";
    if (r.summed_axes.empty()) {
      t << "nothing to sum: the gradient already has its shape\n";
      return;
    }
    std::vector<int64_t> kept(r.summed_axes.begin() + r.squeezed, r.summed_axes.end());
    t << "sum over axes " << axes_str(r.summed_axes);
    if (!kept.empty()) t << " (keeping axes " << axes_str(kept) << " as size 1)";
    if (r.squeezed)
      t << ", then drop the " << r.squeezed << " leading padded ax"
        << (r.squeezed == 1 ? "is" : "es");
    t << " -> " << shape_str(op) << "\n";
  };
  reduction(a, "a", e.grad_a);
  reduction(b, "b", e.grad_b);
  e.text = t.str();
  return e;
}

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

std::string to_dot(const Tensor& output) {
  require_defined_arg(output, "to_dot", "the output");
  std::ostringstream dot;
  dot << "digraph backward {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  dot << "  output [label=\"output " << shape_str(output.shape()) << "\", shape=plaintext];\n";
  Node* root = output.impl()->grad_fn.get();
  if (!root) {
    dot << "  leaf0 [label=\"" << (output.requires_grad() ? "leaf " : "constant ")
        << shape_str(output.shape()) << "\", shape=ellipse];\n  leaf0 -> output;\n}\n";
    return dot.str();
  }
  // Ids in discovery order; a node's output shape is what its consumers' edges record.
  std::map<const Node*, int> ids;
  std::map<const Node*, Shape> out_shape;
  std::map<const TensorImpl*, int> leaves;
  std::vector<const Node*> order{root};
  ids[root] = 0;
  out_shape[root] = output.shape();
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& e : order[i]->edges)
      if (e.fn && !ids.count(e.fn.get())) {
        ids[e.fn.get()] = static_cast<int>(order.size());
        out_shape[e.fn.get()] = e.shape;
        order.push_back(e.fn.get());
      }
  int constants = 0;
  for (const Node* n : order) {
    const int id = ids[n];
    dot << "  n" << id << " [label=\"" << n->name() << "\", shape=box, style=rounded];\n";
    for (const auto& e : n->edges) {
      std::string source;
      if (e.fn) {
        source = "n" + std::to_string(ids[e.fn.get()]);
      } else if (e.leaf) {
        auto it = leaves.find(e.leaf.get());
        if (it == leaves.end()) {
          it = leaves.emplace(e.leaf.get(), static_cast<int>(leaves.size())).first;
          dot << "  leaf" << it->second << " [label=\"leaf " << shape_str(e.shape)
              << "\", shape=ellipse];\n";
        }
        source = "leaf" + std::to_string(it->second);
      } else {
        source = "const" + std::to_string(constants++);
        dot << "  " << source << " [label=\"constant " << shape_str(e.shape)
            << "\", shape=plaintext, fontcolor=gray40];\n";
      }
      std::string label = shape_str(e.shape);
      const int core = n->broadcast_core_dims();
      if (core >= 0 && e.active()) {
        int64_t leading = 0;
        std::vector<int64_t> axes;
        if (unbroadcast_axes(out_shape[n], e.shape, core, axes, leading) && !axes.empty()) {
          label += "\\ngrad: sum axes " + axes_str(axes);
          if (leading) label += ", drop " + std::to_string(leading) + " leading";
        }
      }
      dot << "  " << source << " -> n" << id << " [label=\"" << label << "\""
          << (e.active() ? "" : ", style=dashed, color=gray60") << "];\n";
    }
  }
  dot << "  n0 -> output [label=\"" << shape_str(output.shape()) << "\"];\n}\n";
  return dot.str();
}

}  // namespace ndgrad
