// ndgrad: the command-line face of the library.
//   ndgrad explain 3,1 1,4
//   ndgrad explain "x[1:3, 0] * y" --shape x=4,3 --shape y=3,1
//   ndgrad gradcheck "sum(tanh(x @ w + b), 1)" --shape x=3,4 --shape w=4,2 --shape b=2
//   ndgrad jacobian "x * b" --shape x=2,3 --shape b=3
#include <algorithm>
#include <iostream>
#include <map>
#include <new>
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
    "  jacobian EXPR ...      print the full-form Jacobian next to the compact gradient\n\n"
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
};

// Parses EXPR and --shape/--seed options; returns an exit code, or -1 to go on.
int parse_problem(const std::vector<std::string>& args, const std::string& usage, Problem& p) {
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
  uint64_t seed = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    }
    if (i + 1 >= args.size()) return usage_error("missing value after " + a, usage.c_str());
    const std::string v = args[++i];
    if (a == "--shape") {
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        return usage_error("--shape needs NAME=DIMS, got '" + v + "'", usage.c_str());
      try {
        shapes[v.substr(0, eq)] = cli::parse_shape(v.substr(eq + 1));
      } catch (const cli::ParseError& e) {
        return parse_error("the shape of " + v.substr(0, eq), v.substr(eq + 1), e);
      }
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
  uint64_t k = seed * 1000;
  for (const std::string& name : cli::variables_of(*p.expr)) {
    auto it = shapes.find(name);
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
    // Values in [0.5, 1.5): away from the kinks of relu/abs and inside log's and sqrt's domain.
    try {
      p.inputs[name] = rand(it->second, ++k, DType::f64) + 0.5;
    } catch (const Error& e) {
      return usage_error(std::string("bad shape for '") + name + "': " + e.what(), usage.c_str());
    }
    p.names.push_back(name);
  }
  return -1;
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
    return body();
  } catch (const cli::ParseError& e) {
    return parse_error("the expression", p.text, e);
  } catch (const Error& e) {
    std::cerr << "ndgrad: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {  // an expression whose evaluation needs more than there is
    std::cerr << "ndgrad: out of memory evaluating the expression\n";
    return 1;
  }
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
    std::cout << e.text;
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
      std::string("usage: ndgrad gradcheck EXPR --shape NAME=DIMS ... [--broadcasting]\n") +
      expr_help() +
      "  --broadcasting         check every broadcast-compatible variant of the shapes (size-1\n"
      "                         axes, dropped leading axes, distinct and equal sizes)\n";
  const auto flag = std::find(args.begin(), args.end(), "--broadcasting");
  const bool broadcasting = flag != args.end() && flag != args.begin();
  if (broadcasting) args.erase(flag);
  Problem p;
  if (int rc = parse_problem(args, usage, p); rc >= 0) return rc;
  if (p.names.empty()) return usage_error("EXPR has no inputs to differentiate", usage.c_str());
  auto f = [&](const std::vector<Tensor>& xs) {
    std::map<std::string, Tensor> vars;
    for (size_t i = 0; i < xs.size(); ++i) vars[p.names[i]] = xs[i];
    return cli::evaluate(*p.expr, vars);
  };
  if (broadcasting)
    return run_problem(p, [&] {
      std::vector<Shape> shapes;
      for (const auto& n : p.names) shapes.push_back(p.inputs.at(n).shape());
      GradcheckBroadcastingOptions o;
      o.make_input = [](const Shape& s, size_t, uint64_t seed) {
        return rand(s, seed, DType::f64) + 0.5;  // as the plain check's inputs
      };
      const GradcheckBroadcastingResult r = gradcheck_broadcasting(f, shapes, o);
      std::cout << "expression: " << p.text << "\ninputs: " << input_list(p)
                << " (uniform in [0.5, 1.5))\n"
                << with_input_names(r.report, p.names);
      return r.ok ? 0 : 1;
    });
  std::vector<Tensor> xs;
  for (const auto& n : p.names) xs.push_back(p.inputs.at(n).detach().requires_grad_());
  return run_problem(p, [&] {
    Tensor y = f(xs);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\ninputs: " << input_list(p)
              << " (uniform in [0.5, 1.5))\nresult shape: " << shape_str(y.shape()) << "\n";
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
      std::string("usage: ndgrad jacobian EXPR --shape NAME=DIMS ...\n") + expr_help();
  Problem p;
  if (int rc = parse_problem(args, usage, p); rc >= 0) return rc;
  if (p.names.empty()) return usage_error("EXPR has no inputs to differentiate", usage.c_str());
  return run_problem(p, [&] {
    const Tensor y = cli::evaluate(*p.expr, p.inputs);
    if (int rc = check_result_size(y); rc >= 0) return rc;
    std::cout << "expression: " << p.text << "\ninputs: " << input_list(p)
              << "\nresult shape: " << shape_str(y.shape()) << "\n";
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
  return usage_error("unknown command '" + command + "'", kMainUsage);
}
