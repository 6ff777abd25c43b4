// ndgrad: the command-line face of the library.
//   ndgrad explain 3,1 1,4
//   ndgrad explain "x[1:3, 0] * y" --shape x=4,3 --shape y=3,1
//   ndgrad gradcheck "sum(tanh(x @ w + b), 1)" --shape x=3,4 --shape w=4,2 --shape b=2
//   ndgrad jacobian "x * b" --shape x=2,3 --shape b=3
//   ndgrad explain-grad "sum(x * b)" --wrt b --shape x=2,3 --shape b=3
//   ndgrad dot "tanh(x @ w + b)" --shape x=2,3 --shape w=3,4 --shape b=4 --grad --svg g.svg
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <sstream>

#include "expr.hpp"

using namespace ndgrad;

namespace {

const char* kMainUsage =
    "usage: ndgrad <command> [arguments]\n\n"
    "commands:\n"
    "  explain A B            walk through NumPy broadcasting of shapes A and B (e.g. 3,1 1,4)\n"
    "                         and the reductions backward applies to each operand\n"
    "  explain EXPR ...       walk backward through EXPR: where each subscript scatters its\n"
    "                         gradient (which elements get zero, which accumulate), how cat and\n"
    "                         stack split it, which axes each broadcast sums\n"
    "  gradcheck EXPR ...     run EXPR forward and backward on random inputs and compare the\n"
    "                         gradients with finite differences\n"
    "  jacobian EXPR ...      print the full-form Jacobian next to the compact gradient\n"
    "  explain-grad EXPR --wrt NAME ...\n"
    "                         the chain rule for one input, edge by edge: each backward rule,\n"
    "                         the shapes, where gradients are summed or scattered, the values\n"
    "  dot EXPR ...           the backward graph as Graphviz DOT (--grad: with gradient norms;\n"
    "                         --svg FILE: rendered with Graphviz's dot)\n\n"
    "Run 'ndgrad <command> --help' for a command's options.\n";

// A function: the table of functions lives in another file, initialized in its own time.
std::string expr_help() {
  return "EXPR uses named inputs and:\n"
         "  + - * / (broadcasting), @ (matmul), ^ (power), unary -, .T\n"
         "  subscripts as NumPy's: x[1:3, 0], x[:, ::-1], x[..., None], x[-1], x[[0, 2, 2]]\n"
         "    (a list of integers: an index tensor), x[[True, False, True]] (a mask)\n" +
         ndgrad::cli::table_functions() +
         "  nested at most 256 levels deep; inputs and the result hold at most 1048576 elements\n"
         "options:\n"
         "  --shape NAME=DIMS      the shape of an input, e.g. --shape x=3,4 (--shape s=() for "
         "0-d)\n"
         "  --seed N               seed for the random inputs (default 0)\n";
}

// The options that choose the inputs' values and the broadcasting rules (gradcheck, jacobian,
// explain-grad, dot).
const char* kValueOptions =
    "  --value NAME=V,V,...   the input's values (row-major; without --shape, a 1-d input)\n"
    "  --range NAME=LO:HI     random values for the input uniform in [LO, HI) (default 0.5:1.5)\n"
    "  --strict               strict broadcasting while evaluating EXPR: an implicit broadcast\n"
    "                         (operands of different shapes) is an error naming the op\n";

std::string explain_usage() {
  return "usage: ndgrad explain A B\n"
         "       ndgrad explain EXPR --shape NAME=DIMS ...\n"
         "The first form walks through NumPy broadcasting of shapes A and B and the sums backward\n"
         "applies to each operand. Shapes are comma-separated sizes: 3,1 or (3,1); () is a 0-d\n"
         "shape.\n"
         "The second walks backward through EXPR: for each subscript, which elements of the\n"
         "operand's gradient receive zero, which one element of the upstream gradient g, which\n"
         "accumulate several; for cat and stack, the part of g each operand receives; for each\n"
         "broadcast, the axes summed.\n" +
         expr_help();
}

int usage_error(const std::string& message, const char* usage) {
  std::cerr << "ndgrad: " << message << "\n\n" << usage;
  return 2;
}

// Prints a parse error with a caret under the failing column; of a long text, only the part
// around the column (an expression may be 100,000 characters long).
int parse_error(const std::string& what, const std::string& text, const cli::ParseError& e) {
  const size_t col = static_cast<size_t>(std::max(e.column - 1, 0)), half = 36;
  const size_t from = col > half ? col - half : 0;
  std::string shown = text.substr(std::min(from, text.size()), 2 * half);
  size_t caret = col - from;
  if (from > 0) shown = "..." + shown, caret += 3;
  if (from + 2 * half < text.size()) shown += "...";
  std::cerr << "ndgrad: cannot parse " << what << ": " << e.what() << "\n  " << shown << "\n  "
            << std::string(caret, ' ') << "^\n";
  return 2;
}

// The most elements an input or a result may have: the inputs are random test data, and the
// checks below cost a pass of the expression per input element.
constexpr int64_t kMaxElements = int64_t(1) << 20;

struct Problem {
  std::string text;
  std::shared_ptr<cli::Expr> expr;
  std::map<std::string, Tensor> inputs;
  std::vector<std::string> names;
  std::map<std::string, std::string> origin;                // how each input's values were chosen
  bool strict = false, grad = false;                        // --strict; --grad (dot)
  std::string wrt, svg;                                     // --wrt (explain-grad); --svg (dot)
  std::map<std::string, std::pair<double, double>> ranges;  // --range
  uint64_t seed = 0;                                        // --seed
};

// Which options a command takes beyond --shape and --seed.
enum Extra : unsigned { kValues = 1, kWrt = 2, kDot = 4 };

// "1,2,3" as numbers; false on anything else.
bool parse_values(const std::string& text, std::vector<double>& out) {
  out.clear();
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size()) return false;
    out.push_back(v);
    at = comma + 1;
  }
  return !out.empty();
}

// Parses EXPR and --shape/--seed options (and the extras a command takes); returns an exit code,
// or -1 to go on.
int parse_problem(const std::vector<std::string>& args, const std::string& usage, Problem& p,
                  unsigned extras = 0) {
  if (args.empty()) return usage_error("missing EXPR", usage.c_str());
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << usage;
    return 0;
  }
  p.text = args[0];
  try {
    p.expr = cli::parse_expression(p.text);
  } catch (const cli::ParseError& e) {
    return parse_error("the expression", p.text, e);
  }
  std::map<std::string, Shape> shapes;
  std::map<std::string, std::vector<double>> values;
  std::map<std::string, std::pair<double, double>> ranges;
  uint64_t seed = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    }
    if ((extras & kValues) && a == "--strict") {
      p.strict = true;
      continue;
    }
    if ((extras & kDot) && a == "--grad") {
      p.grad = true;
      continue;
    }
    if (i + 1 >= args.size()) return usage_error("missing value after " + a, usage.c_str());
    const std::string v = args[++i];
    const size_t eq = v.find('=');
    const std::string name = eq == std::string::npos ? "" : v.substr(0, eq);
    if (a == "--shape") {
      if (eq == std::string::npos || eq == 0)
        return usage_error("--shape needs NAME=DIMS, got '" + v + "'", usage.c_str());
      if (shapes.count(name))
        return usage_error("--shape " + name + " is given twice (" + name + "=" +
                               shape_str(shapes[name]) + " and " + v +
                               "): give each input's shape once",
                           usage.c_str());
      try {
        shapes[name] = cli::parse_shape(v.substr(eq + 1));
      } catch (const cli::ParseError& e) {
        return parse_error("the shape of " + name, v.substr(eq + 1), e);
      }
    } else if ((extras & kValues) && (a == "--value" || a == "--range")) {
      if (eq == std::string::npos || eq == 0)
        return usage_error(
            a + " needs NAME=" + (a == "--value" ? "V,V,..." : "LO:HI") + ", got '" + v + "'",
            usage.c_str());
      if (values.count(name) || ranges.count(name))
        return usage_error("the values of '" + name + "' are given twice (--value, --range)",
                           usage.c_str());
      const std::string rest = v.substr(eq + 1);
      if (a == "--value") {
        if (!parse_values(rest, values[name]))
          return usage_error(
              "--value " + name + ": expected comma-separated numbers, got '" + rest + "'",
              usage.c_str());
      } else {
        std::vector<double> lo_hi;
        const size_t colon = rest.find(':');
        if (colon == std::string::npos ||
            !parse_values(rest.substr(0, colon) + "," + rest.substr(colon + 1), lo_hi) ||
            lo_hi.size() != 2 || !(lo_hi[0] < lo_hi[1]) || !std::isfinite(lo_hi[1] - lo_hi[0]))
          return usage_error(
              "--range " + name + ": expected LO:HI with LO < HI, got '" + rest + "'",
              usage.c_str());
        ranges[name] = {lo_hi[0], lo_hi[1]};
      }
    } else if ((extras & kWrt) && a == "--wrt") {
      p.wrt = v;
    } else if ((extras & kDot) && a == "--svg") {
      p.svg = v;
    } else if (a == "--seed") {
      try {
        seed = std::stoull(v);
      } catch (const std::exception&) {
        return usage_error("bad --seed '" + v + "'", usage.c_str());
      }
    } else {
      return usage_error("unknown option '" + a + "'", usage.c_str());
    }
  }
  p.ranges = ranges;
  p.seed = seed;
  uint64_t k = seed * 1000;
  const std::set<std::string> variables = cli::variables_of(*p.expr);
  for (const auto& [name, v] : values)
    if (!variables.count(name))
      return usage_error("--value " + name + ": EXPR has no input '" + name + "'", usage.c_str());
  for (const auto& [name, r] : ranges)
    if (!variables.count(name))
      return usage_error("--range " + name + ": EXPR has no input '" + name + "'", usage.c_str());
  for (const std::string& name : variables) {
    auto it = shapes.find(name);
    auto given = values.find(name);
    if (it == shapes.end() && given != values.end())  // a 1-d input of the values given
      it = shapes.emplace(name, Shape{static_cast<int64_t>(given->second.size())}).first;
    if (it == shapes.end())
      return usage_error("input '" + name + "' needs a shape: --shape " + name + "=...",
                         usage.c_str());
    int64_t numel = 1;
    for (int64_t d : it->second) numel *= d;  // parse_shape refused shapes that overflow
    if (numel > kMaxElements)
      return usage_error("input '" + name + "' of shape " + shape_str(it->second) + " has " +
                             std::to_string(numel) +
                             " elements; the ndgrad command takes at most " +
                             std::to_string(kMaxElements) + " per input",
                         usage.c_str());
    // Random values default to [0.5, 1.5): away from the kinks of relu/abs and inside log's and
    // sqrt's domain.
    try {
      ++k;
      if (given != values.end()) {
        if (static_cast<int64_t>(given->second.size()) != numel)
          return usage_error("--value " + name + " gives " + std::to_string(given->second.size()) +
                                 " values, but its shape " + shape_str(it->second) + " has " +
                                 std::to_string(numel) + " elements",
                             usage.c_str());
        p.inputs[name] = tensor(given->second, it->second, DType::f64);
        p.origin[name] = "given";
      } else {
        auto range = ranges.find(name);
        const double lo = range == ranges.end() ? 0.5 : range->second.first;
        const double hi = range == ranges.end() ? 1.5 : range->second.second;
        p.inputs[name] = rand(it->second, k, DType::f64) * (hi - lo) + lo;
        std::ostringstream o;
        o << "uniform in [" << lo << ", " << hi << "), seed " << seed;
        p.origin[name] = o.str();
      }
    } catch (const Error& e) {
      return usage_error(std::string("bad shape for '") + name + "': " + e.what(), usage.c_str());
    }
    p.names.push_back(name);
  }
  return -1;
}

// The inputs a command used: each one's shape, how its values were chosen, and the values
// themselves when there are at most 12.
std::string inputs_used(const Problem& p) {
  std::ostringstream s;
  s << "inputs used:\n";
  for (const auto& n : p.names) {
    const Tensor& x = p.inputs.at(n);
    s << "  " << n << " " << shape_str(x.shape()) << ", " << p.origin.at(n);
    if (x.numel() <= 12) {
      s << ": [";
      const std::vector<double> v = x.to_vector();
      for (size_t i = 0; i < v.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", v[i]);
        s << (i ? ", " : "") << buf;
      }
      s << "]" << (x.ndim() > 1 ? " (row-major)" : "");
    }
    s << "\n";
  }
  return s.str();
}

std::string input_list(const Problem& p) {
  std::string s;
  for (const auto& n : p.names)
    s += (s.empty() ? "" : ", ") + n + " " + shape_str(p.inputs.at(n).shape());
  return s.empty() ? "(none)" : s;
}

// A result may be a broadcast view far larger than any input (broadcast_to(x, [10^6, 10^6])):
// refuse it before backward allocates a gradient of its size. An exit code, or -1 to go on.
int check_result_size(const Tensor& y) {
  if (y.numel() <= kMaxElements) return -1;
  std::cerr << "ndgrad: the result of shape " << shape_str(y.shape()) << " has " << y.numel()
            << " elements; the ndgrad command handles at most " << kMaxElements << "\n";
  return 1;
}

// Runs a command's body over its parsed problem: a parse error, an ndgrad::Error or running out
// of memory becomes the command's message and exit status 1.
template <class F>
int run_problem(const Problem& p, F&& body) {
  try {
    std::optional<StrictBroadcastGuard> strict;
    if (p.strict) strict.emplace(StrictBroadcast::no_implicit);
    return body();
  } catch (const cli::ParseError& e) {
    return parse_error("the expression", p.text, e);
  } catch (const ShapeError& e) {
    // A strict refusal names the C++ call site inside the evaluator: the expression instead.
    std::string message = e.what();
    const size_t at = message.find(") at "), end = message.find("; call broadcast_to");
    if (p.strict && at != std::string::npos && end != std::string::npos && at < end)
      message.replace(at + 2, end - at - 2, "in '" + p.text + "'");
    std::cerr << "ndgrad: " << (p.strict ? "--strict: " : "") << message << "\n";
    return 1;
  } catch (const Error& e) {
    std::cerr << "ndgrad: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {  // an expression whose evaluation needs more than there is
    std::cerr << "ndgrad: out of memory evaluating the expression\n";
    return 1;
  }
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Shape s without its size-1 axes.
Shape squeezed(const Shape& s) {
  Shape out;
  for (int64_t d : s)
    if (d != 1) out.push_back(d);
  return out;
}

// When both operands are stretched and the result is far larger than either: the classic
// (200,1) - (200,) bug, an outer product where an elementwise op was meant.
std::string outer_product_warning(const BroadcastExplanation& e) {
  if (!e.compatible || e.grad_a.summed_axes.empty() || e.grad_b.summed_axes.empty()) return "";
  const int64_t na = numel_of(e.a), nb = numel_of(e.b), nr = numel_of(e.result);
  const int64_t larger = std::max(na, nb);
  // The library's rule (equal element counts, the audit's "suspicious"), or any outer product
  // ten times larger than its operands.
  const bool mistake = is_outer_product_broadcast({e.a, e.b}, e.result);
  if (larger == 0 || (!mistake && nr < 10 * larger)) return "";
  std::ostringstream w;
  w << "\nWarning: this is an outer product: both operands are stretched, and the result "
    << shape_str(e.result) << " has " << nr << " elements, " << nr / larger
    << " times as many as the larger operand.\n";
  if (squeezed(e.a) == squeezed(e.b)) {
    w << "Did you mean an elementwise op on the " << na << " values? Give both the same shape: "
      << "b.reshape(" << shape_str(e.a) << ") against a, or a.reshape(" << shape_str(e.b)
      << ") against b (e.g. pred.reshape(-1) - target, or pred - target[:, None]).\n";
  } else {
    w << "Did you mean it? If not, check which axes should line up (a[:, None] against "
      << "b[None, :] is an outer product; give the operands matching axes for an elementwise "
      << "op).\n";
  }
  return w.str();
}

// ndgrad explain A B (two shapes) or ndgrad explain EXPR --shape ... (an expression).
int explain(const std::vector<std::string>& args) {
  const std::string usage = explain_usage();
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << usage;
    return 0;
  }
  if (args.empty())
    return usage_error("explain takes two shapes, or an expression and its inputs' shapes",
                       usage.c_str());
  if (args.size() == 2 && args[1].rfind("--", 0) != 0) {
    Shape shapes[2];
    for (int i = 0; i < 2; ++i) {
      try {
        shapes[i] = cli::parse_shape(args[i]);
      } catch (const cli::ParseError& e) {
        const int rc = parse_error("shape " + std::to_string(i + 1), args[i], e);
        if (i == 0) {
          try {
            cli::parse_expression(args[0]);
            std::cerr << "(to explain an expression, give its inputs' shapes: ndgrad explain "
                         "EXPR --shape NAME=DIMS ...)\n";
          } catch (const cli::ParseError&) {
          }
        }
        return rc;
      }
    }
    const BroadcastExplanation e = explain_broadcast(shapes[0], shapes[1]);
    std::cout << e.text << outer_product_warning(e);
    return e.compatible ? 0 : 1;
  }
  Problem p;
  if (int rc = parse_problem(args, usage, p); rc >= 0) return rc;
  return run_problem(p, [&] {
    const Tensor y = cli::evaluate(*p.expr, p.inputs);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\ninputs: " << input_list(p)
              << "\nresult shape: " << shape_str(y.shape()) << "\n\n"
              << cli::explain_expression(*p.expr, p.text, p.inputs);
    return 0;
  });
}

// Names the inputs a gradcheck report numbers: "input 0 " becomes "input 0 'x' ".
std::string with_input_names(std::string report, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string key = "input " + std::to_string(i) + " ";
    for (size_t at = report.find(key); at != std::string::npos; at = report.find(key, at + 1))
      report.insert(at + key.size() - 1, " '" + names[i] + "'");
  }
  return report;
}

int gradcheck_command(std::vector<std::string> args) {
  const std::string usage =
      std::string(
          "usage: ndgrad gradcheck EXPR --shape NAME=DIMS ... [--value NAME=V,...] "
          "[--range NAME=LO:HI] [--strict] [--broadcasting]\n") +
      expr_help() + kValueOptions +
      "  --broadcasting         check every broadcast-compatible variant of the shapes (size-1\n"
      "                         axes, dropped leading axes, distinct and equal sizes) on random\n"
      "                         inputs\n";
  const auto flag = std::find(args.begin(), args.end(), "--broadcasting");
  const bool broadcasting = flag != args.end() && flag != args.begin();
  if (broadcasting) args.erase(flag);
  Problem p;
  if (int rc = parse_problem(args, usage, p, kValues); rc >= 0) return rc;
  if (p.names.empty()) return usage_error("EXPR has no inputs to differentiate", usage.c_str());
  auto f = [&](const std::vector<Tensor>& xs) {
    std::map<std::string, Tensor> vars;
    for (size_t i = 0; i < xs.size(); ++i) vars[p.names[i]] = xs[i];
    return cli::evaluate(*p.expr, vars);
  };
  if (broadcasting) {
    for (const auto& n : p.names)
      if (p.origin[n] == "given")
        return usage_error("--value " + n +
                               " fixes the values of one shape, and --broadcasting varies the "
                               "shapes: use --range " +
                               n + "=LO:HI",
                           usage.c_str());
    return run_problem(p, [&] {
      std::vector<Shape> shapes;
      for (const auto& n : p.names) shapes.push_back(p.inputs.at(n).shape());
      GradcheckBroadcastingOptions o;
      o.seed = p.seed;
      o.make_input = [&](const Shape& s, size_t i, uint64_t seed) {
        auto range = p.ranges.find(p.names[i]);  // as the plain check's inputs
        const double lo = range == p.ranges.end() ? 0.5 : range->second.first;
        const double hi = range == p.ranges.end() ? 1.5 : range->second.second;
        return rand(s, seed, DType::f64) * (hi - lo) + lo;
      };
      const GradcheckBroadcastingResult r = gradcheck_broadcasting(f, shapes, o);
      std::cout << "expression: " << p.text << "\ninputs: " << input_list(p) << "\nvalues:";
      for (const auto& n : p.names) {
        auto range = p.ranges.find(n);
        std::cout << " " << n << " uniform in ["
                  << (range == p.ranges.end() ? 0.5 : range->second.first) << ", "
                  << (range == p.ranges.end() ? 1.5 : range->second.second) << ")";
      }
      std::cout << ", seed " << p.seed << "\n" << with_input_names(r.report, p.names);
      return r.ok ? 0 : 1;
    });
  }
  std::vector<Tensor> xs;
  for (const auto& n : p.names) xs.push_back(p.inputs.at(n).detach().requires_grad_());
  return run_problem(p, [&] {
    Tensor y = f(xs);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\ninputs: " << input_list(p) << "\n"
              << inputs_used(p) << "result shape: " << shape_str(y.shape()) << "\n";
    y.backward(ones(y.shape(), y.dtype()));
    std::cout << "gradient shapes:";
    for (size_t i = 0; i < xs.size(); ++i)
      std::cout << " d/d" << p.names[i] << " " << shape_str(xs[i].grad().shape());
    std::cout << "\n";
    GradcheckResult r = gradcheck(f, xs);
    std::cout << with_input_names(r.report, p.names);
    return r.ok ? 0 : 1;
  });
}

int jacobian_command(const std::vector<std::string>& args) {
  const std::string usage =
      std::string(
          "usage: ndgrad jacobian EXPR --shape NAME=DIMS ... [--value NAME=V,...] "
          "[--range NAME=LO:HI] [--strict]\n") +
      expr_help() + kValueOptions;
  Problem p;
  if (int rc = parse_problem(args, usage, p, kValues); rc >= 0) return rc;
  if (p.names.empty()) return usage_error("EXPR has no inputs to differentiate", usage.c_str());
  return run_problem(p, [&] {
    const Tensor y = cli::evaluate(*p.expr, p.inputs);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\ninputs: " << input_list(p) << "\n"
              << inputs_used(p) << "result shape: " << shape_str(y.shape()) << "\n";
    for (const auto& name : p.names) {
      const Tensor& x = p.inputs.at(name);
      if (y.numel() * x.numel() > 4096) {
        std::cerr << "ndgrad: the Jacobian with respect to " << name << " would have "
                  << y.numel() * x.numel() << " entries; use smaller shapes (at most 4096)\n";
        return 1;
      }
      auto fx = [&](const Tensor& v) {
        std::map<std::string, Tensor> vars = p.inputs;
        vars[name] = v;
        return cli::evaluate(*p.expr, vars);
      };
      const Tensor J = jacobian(fx, x);
      std::cout << "\nfull form d(result)/d" << name << ": shape " << shape_str(y.shape()) << " ++ "
                << shape_str(x.shape()) << " = " << shape_str(J.shape()) << "\n"
                << J << "\n";
      Tensor xr = x.detach().requires_grad_();
      const Tensor compact = grad(fx(xr).sum(), {xr})[0];
      std::cout << "compact form (the gradient of sum(result), shape of " << name << " "
                << shape_str(x.shape()) << "): the full form summed over the result's axes\n"
                << compact << "\n";
    }
    return 0;
  });
}

// The inputs as leaves that require grad, for the commands that look at the graph.
std::map<std::string, Tensor> leaves_of(const Problem& p) {
  std::map<std::string, Tensor> vars;
  for (const auto& [name, x] : p.inputs) vars[name] = x.detach().requires_grad_();
  return vars;
}

int explain_grad_command(const std::vector<std::string>& args) {
  const std::string usage =
      std::string(
          "usage: ndgrad explain-grad EXPR --wrt NAME --shape NAME=DIMS ... [--value ...]\n"
          "The chain rule for the gradient of EXPR with respect to input NAME, edge by edge in\n"
          "the order backward runs them: each op's backward rule (NumPy notation), the shapes,\n"
          "where a broadcast is undone (the axes summed and how many values each sum adds),\n"
          "where indexing scatters g (which elements get zero, which accumulate), where paths\n"
          "join (their gradients add), and the values when a tensor has at most 12 elements.\n"
          "The seed is ones of the result's shape (the gradient of sum(EXPR)).\n") +
      expr_help() + "  --wrt NAME             the input to differentiate with respect to\n" +
      kValueOptions;
  Problem p;
  if (int rc = parse_problem(args, usage, p, kValues | kWrt); rc >= 0) return rc;
  if (p.wrt.empty())
    return usage_error("explain-grad needs --wrt NAME: the input to differentiate with respect to",
                       usage.c_str());
  if (!p.inputs.count(p.wrt))
    return usage_error("--wrt " + p.wrt + ": EXPR has no input '" + p.wrt +
                           "' (its inputs: " + input_list(p) + ")",
                       usage.c_str());
  return run_problem(p, [&] {
    std::map<std::string, Tensor> vars = leaves_of(p);
    const Tensor y = cli::evaluate(*p.expr, vars);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\n"
              << inputs_used(p) << "result shape: " << shape_str(y.shape()) << "\n\n";
    if (!y.requires_grad()) {
      std::cout << "The result does not depend on any input: every gradient is zero.\n";
      return 0;
    }
    std::cout << explain_grad(y, vars.at(p.wrt)).text;
    // Subscripts: where each element of g goes, element by element (explain EXPR's account).
    bool subscripts = false;
    for (std::vector<const cli::Expr*> todo{p.expr.get()}; !todo.empty() && !subscripts;) {
      const cli::Expr* e = todo.back();
      todo.pop_back();
      subscripts = e->kind == cli::Expr::Kind::index;
      for (const auto& a : e->args) todo.push_back(a.get());
    }
    if (subscripts)
      std::cout << "\nElement by element, as 'ndgrad explain EXPR' tells it:\n"
                << cli::explain_expression(*p.expr, p.text, p.inputs);
    return 0;
  });
}

// Single-quoted for the shell.
std::string shell_quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

int dot_command(const std::vector<std::string>& args) {
  const std::string usage =
      std::string(
          "usage: ndgrad dot EXPR --shape NAME=DIMS ... [--grad] [--svg FILE]\n"
          "The backward graph of EXPR as Graphviz DOT: a node per op, each edge labelled with\n"
          "its shape and the axes backward sums there. --grad runs backward (seed: ones) and\n"
          "labels each edge with ||g||, the norm of the gradient it carries; edges where a\n"
          "broadcast is undone are red, with the norm before and after the sum. --svg FILE\n"
          "renders it with Graphviz's dot; without Graphviz, FILE with .dot is written "
          "instead.\n") +
      expr_help() + "  --grad                 label the edges with gradient norms\n" +
      "  --svg FILE             write an SVG drawing (needs Graphviz's dot)\n" + kValueOptions;
  Problem p;
  if (int rc = parse_problem(args, usage, p, kValues | kDot); rc >= 0) return rc;
  return run_problem(p, [&] {
    const Tensor y = cli::evaluate(*p.expr, leaves_of(p));
    if (int rc = check_result_size(y); rc >= 0) return rc;
    DotOptions options;
    options.gradients = p.grad && y.requires_grad();
    const std::string dot = to_dot(y, options);
    if (p.svg.empty()) {
      std::cout << dot;
      return 0;
    }
    const bool graphviz = std::system("command -v dot >/dev/null 2>&1") == 0;
    std::string path = p.svg;
    if (!graphviz) {
      const size_t ext = path.rfind(".svg");
      path = (ext != std::string::npos && ext + 4 == path.size() ? path.substr(0, ext) : path) +
             ".dot";
    }
    if (graphviz) {
      FILE* pipe = popen(("dot -Tsvg -o " + shell_quoted(path)).c_str(), "w");
      const bool written = pipe && std::fwrite(dot.data(), 1, dot.size(), pipe) == dot.size();
      const int status = pipe ? pclose(pipe) : -1;
      if (!written || status != 0) {
        std::cerr << "ndgrad: Graphviz's dot could not write " << path << "\n";
        return 1;
      }
      std::cout << "wrote " << path << "\n";
      return 0;
    }
    std::ofstream out(path, std::ios::binary);
    out << dot;
    if (!out.flush()) {
      std::cerr << "ndgrad: cannot write " << path << "\n";
      return 1;
    }
    std::cout << "Graphviz's dot is not installed: wrote " << path
              << " instead; render it with: dot -Tsvg " << shell_quoted(path) << " -o "
              << shell_quoted(p.svg) << " (Debian: apt-get install graphviz)\n";
    return 0;
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("missing command", kMainUsage);
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kMainUsage;
    return 0;
  }
  if (command == "explain") return explain(args);
  if (command == "gradcheck") return gradcheck_command(args);
  if (command == "jacobian") return jacobian_command(args);
  if (command == "explain-grad") return explain_grad_command(args);
  if (command == "dot") return dot_command(args);
  return usage_error("unknown command '" + command + "'", kMainUsage);
}
