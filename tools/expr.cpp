#include "expr.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "ndgrad/function_table.hpp"

namespace ndgrad::cli {

namespace {

// Every row of the op table is a function of the language.
const std::map<std::string, Tensor (*)(const Tensor&)> kUnary = {
#define NDGRAD_UNARY_OP(name, ...) {#name, [](const Tensor& x) { return name(x); }},
#include "ndgrad/op_table.def"
};
const std::map<std::string, Tensor (*)(const Tensor&, const Tensor&)> kBinary = {
#define NDGRAD_BINARY_OP(name, ...) \
  {#name, [](const Tensor& a, const Tensor& b) { return name(a, b); }},
#include "ndgrad/op_table.def"
};
// The op table's reductions.
using Reduction = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);
const std::map<std::string, Reduction> kReductions = {
#define NDGRAD_REDUCTION_OP(name, ...)                                           \
  {#name, [](const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) { \
     return name(x, axes, keepdims);                                             \
   }},
#include "ndgrad/op_table.def"
};
// Every row of the function table (ndgrad/function_table.def) is a function of the language,
// called as its form says.
const std::map<std::string, const functions::Function*> kFunctions = [] {
  std::map<std::string, const functions::Function*> m;
  for (const functions::Function& f : functions::kFunctions) m[f.name] = &f;
  return m;
}();
const functions::Function* function_row(const std::string& name) {
  auto it = kFunctions.find(name);
  return it == kFunctions.end() ? nullptr : it->second;
}
// The joins, whose gradients explain_expression splits (explain_join).
const std::set<std::string> kJoins = {"cat", "concatenate", "stack", "hstack", "vstack"};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  std::shared_ptr<Expr> parse() {
    if (s_.size() > kMaxLength) {
      pos_ = kMaxLength;
      fail("the expression is longer than " + std::to_string(kMaxLength) + " characters");
    }
    auto e = expr();
    skip();
    if (pos_ < s_.size()) fail("unexpected '" + std::string(1, s_[pos_]) + "'");
    return e;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw ParseError(message, static_cast<int>(pos_) + 1);
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool accept(const std::string& tok) {
    skip();
    if (s_.compare(pos_, tok.size(), tok) == 0) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  void expect(const std::string& tok) {
    if (!accept(tok)) fail("expected '" + tok + "'");
  }
  std::shared_ptr<Expr> node(Expr::Kind kind, int column) {
    auto e = std::make_shared<Expr>();
    e->kind = kind;
    e->column = column;
    return e;
  }
  int column() {
    skip();
    return static_cast<int>(pos_) + 1;
  }

  std::shared_ptr<Expr> binary(const std::string& op, std::shared_ptr<Expr> l,
                               std::shared_ptr<Expr> r, int col) {
    auto e = node(Expr::Kind::binary, col);
    e->name = op;
    e->begin = l->begin;
    e->end = r->end;
    e->args = {std::move(l), std::move(r)};
    return e;
  }

  std::shared_ptr<Expr> expr() {
    auto e = term();
    for (;;) {
      const int col = column();
      if (accept("+"))
        e = binary("+", e, term(), col);
      else if (accept("-"))
        e = binary("-", e, term(), col);
      else
        return e;
    }
  }

  std::shared_ptr<Expr> term() {
    auto e = factor();
    for (;;) {
      const int col = column();
      if (accept("*"))
        e = binary("*", e, factor(), col);
      else if (accept("/"))
        e = binary("/", e, factor(), col);
      else if (accept("@"))
        e = binary("@", e, factor(), col);
      else
        return e;
    }
  }

  // Every nested construct (parentheses, calls' arguments, unary minus, the right side of ^)
  // passes through factor(), and nested index lists through index_list(), so counting there
  // bounds the parser's recursion: deeper input would overflow the call stack rather than fail.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting)
        p.fail("nested more than " + std::to_string(kMaxNesting) +
               " levels deep (parentheses, calls, brackets, unary minus, ^)");
    }
    ~Nest() { --p.depth_; }
  };

  std::shared_ptr<Expr> factor() {
    const int col = column();
    const Nest nest(*this);
    if (accept("-")) {
      auto e = node(Expr::Kind::negate, col);
      e->args = {factor()};
      e->begin = static_cast<size_t>(col - 1);
      e->end = e->args[0]->end;
      return e;
    }
    auto base = postfix();
    const int pcol = column();
    if (accept("^")) return binary("^", base, factor(), pcol);
    return base;
  }

  std::shared_ptr<Expr> postfix() {
    auto e = primary();
    for (;;) {
      const int col = column();
      std::shared_ptr<Expr> t;
      if (accept(".T")) {
        t = node(Expr::Kind::call, col);
        t->name = "T";
      } else if (accept("[")) {
        t = node(Expr::Kind::index, col);
        subscripts(*t);
      } else {
        return e;
      }
      t->begin = e->begin;
      t->end = pos_;
      t->args = {std::move(e)};
      e = std::move(t);
    }
  }

  bool at(char c) {
    skip();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  // A keyword: the word, not followed by a letter, digit or '_'.
  bool word(const std::string& w) {
    skip();
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    const size_t after = pos_ + w.size();
    if (after < s_.size() &&
        (std::isalnum(static_cast<unsigned char>(s_[after])) || s_[after] == '_'))
      return false;
    pos_ = after;
    return true;
  }
  bool starts_integer() {
    skip();
    size_t i = pos_;
    if (i < s_.size() && s_[i] == '-') ++i;
    return i < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i]));
  }
  // An integer where an index stands: 1.5 or 1e3 are refused by name.
  int64_t index_integer() {
    const size_t start = pos_;
    const int64_t v = integer();
    if (pos_ < s_.size() && (s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      pos_ = start;
      fail("an index must be an integer");
    }
    return v;
  }

  // After '[': subscripts separated by commas (a trailing comma allowed), then ']'.
  void subscripts(Expr& e) {
    e.indices.push_back(subscript());
    while (accept(",")) {
      if (at(']')) break;
      e.indices.push_back(subscript());
    }
    if (!accept("]")) fail("expected ',' or ']' after an index");
  }

  TensorIndex subscript() {
    skip();
    if (accept("...")) return Ellipsis;
    if (word("None")) return NewAxis;
    if (word("True")) return scalar(1, DType::boolean);
    if (word("False")) return scalar(0, DType::boolean);
    if (at('[')) return index_list();
    std::optional<int64_t> start, stop;
    int64_t step = 1;
    if (starts_integer()) start = index_integer();
    if (!accept(":")) {
      if (!start)
        fail(
            "expected an index: an integer, a slice (1:3, ::-1), None, ..., or a [list] of "
            "integers");
      return *start;
    }
    if (starts_integer()) stop = index_integer();
    if (accept(":") && starts_integer()) {
      const size_t at_step = pos_;
      step = index_integer();
      if (step == 0) {
        pos_ = at_step;
        fail("a slice step cannot be zero");
      }
    }
    return Slice(start, stop, step);
  }

  // [0, 2, 2] or [[0, 1], [1, 2]]: an i64 index tensor; [True, False, ...]: a bool mask.
  TensorIndex index_list() {
    const size_t start = pos_;
    std::vector<double> values;
    int kind = 0;  // 0: no element yet, 1: integers, 2: True/False
    const Shape shape = list_level(values, kind);
    try {
      return tensor(std::move(values), shape, kind == 2 ? DType::boolean : DType::i64);
    } catch (const Error& e) {  // too many axes, say
      pos_ = start;
      fail(std::string("bad index list: ") + e.what());
    }
  }
  Shape list_level(std::vector<double>& values, int& kind) {
    const Nest nest(*this);
    expect("[");
    Shape inner;
    int64_t n = 0;
    while (!at(']')) {
      const size_t at_element = pos_;
      Shape s;
      if (at('[')) {
        s = list_level(values, kind);
      } else {
        int k;
        if (word("True") || word("False")) {
          k = 2;
          values.push_back(s_[at_element] == 'T' ? 1 : 0);
        } else {
          if (!starts_integer()) fail("expected an integer, True, False or a [list] in the list");
          k = 1;
          values.push_back(static_cast<double>(index_integer()));
        }
        if (kind != 0 && kind != k) {
          pos_ = at_element;
          fail("an index list mixes integers and True/False");
        }
        kind = k;
      }
      if (n > 0 && s != inner) {
        pos_ = at_element;
        fail("an index list must be rectangular: this entry has shape " + shape_str(s) +
             ", the first " + shape_str(inner));
      }
      inner = s;
      ++n;
      if (!accept(",")) break;
    }
    if (!accept("]")) fail("expected ',' or ']' in the list");
    Shape shape{n};
    shape.insert(shape.end(), inner.begin(), inner.end());
    return shape;
  }

  int64_t integer() {
    skip();
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    if (pos_ == start || (pos_ == start + 1 && s_[start] == '-')) {
      pos_ = start;
      fail("expected an integer");
    }
    if (pos_ - start > 15) {
      pos_ = start;
      fail("integer too large");
    }
    return std::strtoll(s_.c_str() + start, nullptr, 10);
  }

  // Integers as "a, b, c" or one "[a, b, c]".
  void integers(Expr& e) {
    e.has_ints = true;
    if (accept("[")) {
      if (!accept("]")) {
        do e.ints.push_back(integer());
        while (accept(","));
        expect("]");
      }
      return;
    }
    e.ints.push_back(integer());
    while (true) {
      const size_t save = pos_;
      if (!accept(",")) return;
      skip();
      if (s_.compare(pos_, 8, "keepdims") == 0) {
        pos_ = save;
        return;
      }
      e.ints.push_back(integer());
    }
  }

  std::shared_ptr<Expr> primary() {
    const int col = column();
    if (pos_ >= s_.size()) fail("unexpected end of the expression");
    const char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const char* begin = s_.c_str() + pos_;
      char* end;
      const double v = std::strtod(begin, &end);
      if (end == begin) fail("expected a number");
      pos_ += static_cast<size_t>(end - begin);
      auto e = node(Expr::Kind::number, col);
      e->value = v;
      e->begin = static_cast<size_t>(col - 1);
      e->end = pos_;
      return e;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
        ++pos_;
      const std::string name = s_.substr(start, pos_ - start);
      const size_t name_end = pos_;
      skip();
      if (pos_ >= s_.size() || s_[pos_] != '(') {
        auto e = node(Expr::Kind::variable, col);
        e->name = name;
        e->begin = start;
        e->end = name_end;
        return e;
      }
      auto e = call(name, col);
      e->begin = start;
      e->end = pos_;
      return e;
    }
    if (accept("(")) {
      auto e = expr();
      expect(")");
      e->begin = static_cast<size_t>(col - 1);  // the parentheses are part of its text
      e->end = pos_;
      return e;
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  std::shared_ptr<Expr> call(const std::string& name, int col) {
    const functions::Function* fn = function_row(name);
    const bool known = kUnary.count(name) || kBinary.count(name) || kReductions.count(name) || fn;
    if (!known) {
      pos_ = static_cast<size_t>(col - 1);
      fail("unknown function '" + name + "'");
    }
    expect("(");
    auto e = node(Expr::Kind::call, col);
    e->name = name;
    using functions::Form;
    const Form::Kind form = fn ? fn->form.kind : Form::args;
    if (fn && (form == Form::list || form == Form::list_axis)) {  // name([a, b, ...] [, axis])
      const bool with_axis = form == Form::list_axis;
      if (!accept("["))
        fail("expected '[': " + name + " takes a list of tensors, e.g. " + name +
             (with_axis ? "([x, y], 0)" : "([x, y])"));
      if (at(']')) fail("expected a tensor: the list is empty");
      do {
        if (!e->args.empty() && at(']')) break;  // a trailing comma
        e->args.push_back(expr());
      } while (accept(","));
      if (!accept("]")) fail("expected ',' or ']' in the list");
      if (with_axis && accept(",")) {
        e->has_ints = true;
        e->ints.push_back(integer());
      }
      expect(")");
      return e;
    }
    if (fn && form == Form::einsum) {  // einsum("ij,jk->ik", x, y, ...)
      skip();
      if (!accept("\""))
        fail("expected '\"': " + name + " takes its subscripts first, e.g. " + name +
             "(\"ij,jk->ik\", x, y)");
      const size_t close = s_.find('"', pos_);
      if (close == std::string::npos) fail("the subscripts' closing '\"' is missing");
      e->text = s_.substr(pos_, close - pos_);
      pos_ = close + 1;
      if (!accept(",")) fail("expected ',' and the operands after the subscripts");
      do e->args.push_back(expr());
      while (accept(","));
      expect(")");
      return e;
    }
    if (fn && form == Form::args) {
      const size_t fewest = static_cast<size_t>(fn->form.fewest),
                   most = static_cast<size_t>(fn->form.most);
      do e->args.push_back(expr());
      while (e->args.size() < most && accept(","));
      if (e->args.size() < fewest) fail(name + " takes " + std::to_string(fewest) + " arguments");
      if (accept(",")) fail(name + " takes at most " + std::to_string(most) + " arguments");
      expect(")");
      return e;
    }
    e->args.push_back(expr());
    if (kUnary.count(name)) {
      // one argument
    } else if (kBinary.count(name)) {
      expect(",");
      e->args.push_back(expr());
    } else if (kReductions.count(name) || form == Form::axes || form == Form::axis_keepdims) {
      // (x [, axes] [, keepdims]); axis_keepdims: one axis
      while (accept(",")) {
        skip();
        if (accept("keepdims")) {
          e->keepdims = true;
        } else if (e->has_ints) {
          fail("expected 'keepdims'");
        } else if (form == Form::axis_keepdims) {
          e->has_ints = true;
          e->ints.push_back(integer());
        } else {
          integers(*e);
        }
      }
    } else if (form == Form::axis) {
      if (accept(",")) {
        e->has_ints = true;
        e->ints.push_back(integer());
      }
    } else {  // ints: (x [, integers])
      if (fn->form.fewest > 0 || accept(",")) {
        if (fn->form.fewest > 0) expect(",");
        integers(*e);
      }
      const auto n = static_cast<int>(e->ints.size());
      if (n < fn->form.fewest || n > fn->form.most)
        fail(name + " takes " +
             (fn->form.fewest == fn->form.most
                  ? std::to_string(fn->form.fewest)
                  : std::to_string(fn->form.fewest) + " to " + std::to_string(fn->form.most)) +
             " integers");
    }
    expect(")");
    return e;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::shared_ptr<Expr> parse_expression(const std::string& text) { return Parser(text).parse(); }

Expr::~Expr() {
  std::vector<std::shared_ptr<Expr>> pending = std::move(args);
  while (!pending.empty()) {
    std::shared_ptr<Expr> e = std::move(pending.back());
    pending.pop_back();
    // The last owner takes the children, so e dies childless and its destructor returns at once.
    if (e.use_count() == 1)
      for (auto& a : e->args) pending.push_back(std::move(a));
  }
}

std::set<std::string> variables_of(const Expr& root) {
  std::set<std::string> out;
  std::vector<const Expr*> stack{&root};
  while (!stack.empty()) {
    const Expr* e = stack.back();
    stack.pop_back();
    if (e->kind == Expr::Kind::variable) out.insert(e->name);
    for (const auto& a : e->args) stack.push_back(a.get());
  }
  return out;
}

namespace {

// One node's value from its children's values x[0], x[1], ...
Tensor apply(const Expr& e, const Tensor* x, const std::map<std::string, Tensor>& vars) {
  switch (e.kind) {
    case Expr::Kind::number:
      return scalar(e.value, DType::f64);
    case Expr::Kind::variable: {
      auto it = vars.find(e.name);
      if (it == vars.end())
        throw ParseError(
            "unknown variable '" + e.name + "' (give its shape with --shape " + e.name + "=...)",
            e.column);
      return it->second;
    }
    case Expr::Kind::negate:
      return -x[0];
    case Expr::Kind::binary:
      if (e.name == "+") return x[0] + x[1];
      if (e.name == "-") return x[0] - x[1];
      if (e.name == "*") return x[0] * x[1];
      if (e.name == "/") return x[0] / x[1];
      if (e.name == "@") return matmul(x[0], x[1]);
      return pow(x[0], x[1]);
    case Expr::Kind::index:
      return x[0].index(e.indices);
    case Expr::Kind::call:
      break;
  }
  const std::string& f = e.name;
  if (auto it = kUnary.find(f); it != kUnary.end()) return it->second(x[0]);
  if (auto it = kBinary.find(f); it != kBinary.end()) return it->second(x[0], x[1]);
  if (auto it = kReductions.find(f); it != kReductions.end())
    return it->second(x[0], e.ints, e.keepdims);
  const functions::Function* fn = function_row(f);  // ".T" is the row T
  if (!fn) throw ParseError("unknown function '" + f + "'", e.column);
  functions::Call call;
  call.x.assign(x, x + e.args.size());
  call.ints = e.ints;
  call.has_ints = e.has_ints;
  call.keepdims = e.keepdims;
  call.text = e.text;
  return fn->call(call);
}

}  // namespace

std::string table_functions() {
  std::string text;
  auto line_of = [&](const std::vector<std::string>& names, const char* args) {
    std::string line = " ";
    for (const std::string& name : names) {
      if (line.size() + name.size() > 88) {
        text += line + "\n";
        line = " ";
      }
      line += " " + name;
    }
    text += line + " " + args + "\n";
  };
  auto list = [&](const auto& table, const char* args) {
    std::vector<std::string> names;
    for (const auto& entry : table) names.push_back(entry.first);
    line_of(names, args);
  };
  auto forms = [&](functions::Form::Kind kind, const char* args) {
    std::vector<std::string> names;
    for (const auto& [name, fn] : kFunctions)
      if (fn->form.kind == kind) names.push_back(name);
    line_of(names, args);
  };
  using functions::Form;
  list(kUnary, "(x)");
  list(kBinary, "(x, y)");
  std::vector<std::string> reductions;
  for (const auto& entry : kReductions) reductions.push_back(entry.first);
  for (const auto& [name, fn] : kFunctions)
    if (fn->form.kind == Form::axes) reductions.push_back(name);
  line_of(reductions, "(x [, axes] [, keepdims]), e.g. sum(x, [0, 2], keepdims)");
  forms(Form::axis, "(x [, axis]), e.g. cumsum(x, 0) (axis -1 when none)");
  forms(Form::axis_keepdims, "(x [, axis] [, keepdims]), e.g. median(x, 0) (all when no axis)");
  forms(Form::ints, "(x, integers), e.g. reshape(x, [2, -1]), transpose(x, 0, 1)");
  forms(Form::list, "([x, ...])");
  forms(Form::list_axis, "([x, ...] [, axis]), e.g. cat([x, y], 1)");
  forms(Form::args,
        "(x, ...), e.g. leaky_relu(x, 0.2), clamp(x, 0, 1), solve(a, b), quantile(x, 0.5, 0)");
  text += "  einsum(\"subscripts\", x, ...), e.g. einsum(\"ij,jk->ik\", a, b)\n";
  return text;
}

namespace {

// Evaluates root, calling visit(node, its children's values, its value) for every node in the
// order they are computed. Post-order with explicit stacks: a flat chain (x + x + ... + x) is a
// tree as deep as it is long, too deep to recurse on the call stack. Children are evaluated
// left to right.
template <class Visit>
Tensor walk(const Expr& root, const std::map<std::string, Tensor>& vars, Visit&& visit) {
  struct Frame {
    const Expr* e;
    size_t next_child;
  };
  std::vector<Frame> stack{{&root, 0}};
  std::vector<Tensor> values;  // the finished children of the nodes on the stack, in order
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next_child < top.e->args.size()) {
      const Expr* child = top.e->args[top.next_child++].get();
      stack.push_back({child, 0});
      continue;
    }
    const Expr& e = *top.e;
    stack.pop_back();
    const size_t n = e.args.size();
    const Tensor* children = values.data() + (values.size() - n);
    Tensor value = apply(e, children, vars);
    visit(e, children, value);
    values.resize(values.size() - n);
    values.push_back(std::move(value));
  }
  return values.back();
}

}  // namespace

Tensor evaluate(const Expr& root, const std::map<std::string, Tensor>& vars) {
  return walk(root, vars, [](const Expr&, const Tensor*, const Tensor&) {});
}

namespace {

// explain_expression's limits: the element-by-element account of a subscript (operand and result
// at most this many elements), the steps, the boxes naming a set of elements, the lines of
// per-element sums.
constexpr int64_t kMaxScatterElements = int64_t(1) << 20;
constexpr size_t kMaxSteps = 16, kMaxRegions = 8, kMaxElementLines = 8, kMaxTerms = 4;

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string list_text(const std::vector<int64_t>& v) {
  std::string t;
  for (int64_t x : v) t += (t.empty() ? "" : ", ") + std::to_string(x);
  return "[" + t + "]";
}

// The text of e as a step names it: long ones shortened (without copying them whole: a long
// chain has as many nodes as characters).
std::string shown(const std::string& text, const Expr& e) {
  const size_t n = e.end - e.begin;
  return n <= 60 ? text.substr(e.begin, n) : text.substr(e.begin, 57) + "...";
}

// "[1, 0]": the multi-index of a flat (row-major) position; "" in a 0-d shape.
std::string position_text(int64_t flat, const Shape& shape) {
  if (shape.empty()) return "";
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return list_text(idx);
}

// Sorted distinct positions along an axis of the given size as slice texts, each with its first
// position: ":" for all of them, "2", "1:3", "0:7:2" (three or more evenly spaced); any other
// set as its contiguous runs.
std::vector<std::pair<int64_t, std::string>> runs_text(const std::vector<int64_t>& ps,
                                                       int64_t size) {
  if (static_cast<int64_t>(ps.size()) == size) return {{0, ":"}};
  if (ps.size() == 1) return {{ps[0], std::to_string(ps[0])}};
  const int64_t step = ps[1] - ps[0];
  bool even = true;
  for (size_t i = 2; i < ps.size() && even; ++i) even = ps[i] - ps[i - 1] == step;
  if (even && (step == 1 || ps.size() >= 3))
    return {{ps.front(), std::to_string(ps.front()) + ":" + std::to_string(ps.back() + 1) +
                             (step == 1 ? "" : ":" + std::to_string(step))}};
  std::vector<std::pair<int64_t, std::string>> out;
  for (size_t i = 0; i < ps.size();) {
    size_t j = i;
    while (j + 1 < ps.size() && ps[j + 1] == ps[j] + 1) ++j;
    out.push_back({ps[i], j == i ? std::to_string(ps[i])
                                 : std::to_string(ps[i]) + ":" + std::to_string(ps[j] + 1)});
    i = j + 1;
  }
  return out;
}

// Boxes whose union is exactly the sorted flat positions pos of a tensor of shape shape[d:],
// as index texts ("0, 1:3") with their first flat positions, found axis by axis: the positions
// along axis d that see one set of positions on the later axes share boxes. Stops after cap + 1.
void regions(const Shape& shape, size_t d, const std::vector<int64_t>& pos,
             const std::string& prefix, int64_t first,
             std::vector<std::pair<int64_t, std::string>>& out, size_t cap) {
  if (out.size() > cap) return;
  if (d == shape.size()) {
    out.push_back({first, prefix});
    return;
  }
  int64_t inner = 1;
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  std::map<std::vector<int64_t>, size_t> group_of;
  std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> groups;  // (later, along d)
  for (size_t i = 0; i < pos.size();) {
    const int64_t p = pos[i] / inner;
    std::vector<int64_t> later;
    for (; i < pos.size() && pos[i] / inner == p; ++i) later.push_back(pos[i] % inner);
    auto [it, fresh] = group_of.emplace(later, groups.size());
    if (fresh) groups.push_back({std::move(later), {}});
    groups[it->second].second.push_back(p);
  }
  for (const auto& [later, along] : groups)
    for (const auto& [start, r] : runs_text(along, shape[d]))
      regions(shape, d + 1, later, prefix + (d ? ", " : "") + r, first + start * inner, out, cap);
}

// "rows 1..2", "column 0", "elements 0, 2 and 5", "rows 0, 2, ..., 8": sorted distinct
// positions along an axis; "" for a long irregular set.
std::string axis_words(const std::vector<int64_t>& ps, const std::string& noun) {
  if (ps.size() == 1) return noun + " " + std::to_string(ps[0]);
  const std::string nouns = noun + "s ";
  if (ps.back() - ps.front() + 1 == static_cast<int64_t>(ps.size()))
    return nouns + std::to_string(ps.front()) + ".." + std::to_string(ps.back());
  std::string t;
  if (ps.size() > 6) {
    for (size_t i = 2; i < ps.size(); ++i)
      if (ps[i] - ps[i - 1] != ps[1] - ps[0]) return "";
    return nouns + std::to_string(ps[0]) + ", " + std::to_string(ps[1]) + ", ..., " +
           std::to_string(ps.back());
  }
  for (size_t i = 0; i + 1 < ps.size(); ++i) t += (i ? ", " : "") + std::to_string(ps[i]);
  return nouns + t + " and " + std::to_string(ps.back());
}

// Words for a set of elements of a 1-d or 2-d tensor that is a box (rows x columns); else "".
std::string set_words(const Shape& shape, const std::vector<int64_t>& pos) {
  if (shape.empty() || shape.size() > 2) return "";
  std::vector<std::set<int64_t>> along(shape.size());
  for (int64_t p : pos) {
    if (shape.size() == 2) {
      along[0].insert(p / shape[1]);
      along[1].insert(p % shape[1]);
    } else {
      along[0].insert(p);
    }
  }
  size_t box = 1;
  std::vector<std::vector<int64_t>> ps;
  for (const auto& a : along) {
    box *= a.size();
    ps.emplace_back(a.begin(), a.end());
  }
  if (box != pos.size()) return "";
  if (static_cast<int64_t>(pos.size()) == numel_of(shape)) return "every element";
  if (shape.size() == 1) return axis_words(ps[0], "element");
  const bool all_rows = static_cast<int64_t>(ps[0].size()) == shape[0],
             all_columns = static_cast<int64_t>(ps[1].size()) == shape[1];
  const std::string rows = axis_words(ps[0], "row"), columns = axis_words(ps[1], "column");
  if (all_columns) return rows;
  if (all_rows) return columns;
  return rows.empty() || columns.empty() ? "" : rows + " of " + columns;
}

// A set of elements of operand (sorted flat positions) as subscripted boxes, with words where
// there are some: "x[1:3, 0] (rows 1..2 of column 0)".
std::string set_text(const std::string& operand, const Shape& shape,
                     const std::vector<int64_t>& pos) {
  if (static_cast<int64_t>(pos.size()) == numel_of(shape)) return "every element of " + operand;
  std::vector<std::pair<int64_t, std::string>> boxes;
  regions(shape, 0, pos, "", 0, boxes, kMaxRegions);
  std::sort(boxes.begin(), boxes.end());
  std::string t;
  for (size_t i = 0; i < boxes.size() && i < kMaxRegions; ++i)
    t += (i ? ", " : "") + operand + "[" + boxes[i].second + "]";
  if (boxes.size() > kMaxRegions) t += ", ...";
  const std::string words = set_words(shape, pos);
  return words.empty() ? t : t + " (" + words + ")";
}

std::string count_text(size_t n, int64_t of) {
  return std::to_string(n) + " of " + std::to_string(of) + " element" + (of == 1 ? "" : "s");
}

// The gradient's name: dx, d(x + y).
std::string gradient_name(const std::string& operand) {
  bool name = !operand.empty();
  for (char c : operand) name = name && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
  return name || (!operand.empty() && operand.front() == '(') ? "d" + operand
                                                              : "d(" + operand + ")";
}

// The names of the graph's nodes behind output, in the order backward reaches them (from
// to_dot, whose nodes are boxes labelled with their op's name).
std::string backward_nodes(const Tensor& output) {
  std::istringstream dot(to_dot(output));
  std::string line, names;
  std::vector<std::string> seen;  // each name once
  while (std::getline(dot, line)) {
    const size_t at = line.find("[label=\""), box = line.find("shape=box");
    if (at == std::string::npos || box == std::string::npos) continue;
    const size_t from = at + 8, to = line.find('"', from);
    if (to == std::string::npos) continue;
    const std::string name = line.substr(from, to - from);
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
    seen.push_back(name);
    names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

// A subscript's step: where backward puts each element of the gradient g of its result.
std::string explain_index(const std::string& what, const std::string& operand, const Shape& in,
                          const std::vector<TensorIndex>& indices, const Shape& out) {
  bool advanced = false;
  for (const TensorIndex& ix : indices)
    advanced = advanced || ix.kind() == TensorIndex::Kind::tensor;
  std::ostringstream t;
  t << what << ": " << (advanced ? "advanced indexing (a copy)" : "basic indexing (a view)")
    << " of " << operand << " " << shape_str(in) << " -> " << shape_str(out) << "\n";
  const int64_t n_in = numel_of(in), n_out = numel_of(out);
  if (n_in > kMaxScatterElements || n_out > kMaxScatterElements) {
    t << "  backward: g " << shape_str(out) << " is " << (advanced ? "added" : "placed")
      << " into zeros of shape " << shape_str(in) << " (too large to follow element by element)\n";
    return t.str();
  }
  // How many elements of g each element of the operand receives, from the library's own
  // backward (the gradient of sum(operand[indices])); and where each element of g goes, from
  // the same index applied to the operand's flat positions.
  Tensor leaf = zeros(in, DType::f64).requires_grad_();
  const Tensor y = leaf.index(indices);
  const std::string nodes = backward_nodes(y);
  const std::vector<double> counts = grad(y, {leaf}, ones(y.shape(), DType::f64))[0].to_vector();
  const std::vector<double> source =
      arange(n_in, DType::f64).reshape(in).index(indices).to_vector();
  t << "  backward (graph nodes: " << nodes << "): g " << shape_str(out) << " is "
    << (advanced ? "added" : "placed") << " into zeros of shape " << shape_str(in) << "\n  "
    << (advanced ? "at the elements read; an element read k times accumulates k contributions:\n"
                 : "where the view reads its elements:\n");
  std::map<int64_t, std::vector<int64_t>, std::greater<int64_t>> by_count;
  for (int64_t p = 0; p < n_in; ++p) by_count[static_cast<int64_t>(counts[p])].push_back(p);
  auto line = [&](const std::string& label, const std::vector<int64_t>& pos) {
    std::string l = "    " + label + ":";
    l.resize(std::max<size_t>(l.size() + 1, 34), ' ');
    t << l << set_text(operand, in, pos) << ", " << count_text(pos.size(), n_in) << "\n";
  };
  if (n_in == 0) t << "    (" << operand << " has no elements)\n";
  for (const auto& [k, pos] : by_count) {
    if (k == 0)
      line("receives zero", pos);
    else if (k == 1)
      line("receives one element of g", pos);
    else
      line("accumulates " + std::to_string(k) + " elements of g", pos);
  }
  // Element by element, for the first elements that receive a gradient: the elements of g
  // each sums (their number from backward, the first few from the forward map).
  std::map<int64_t, std::vector<int64_t>> from;
  size_t receiving = 0;
  for (int64_t p = 0; p < n_in; ++p)
    if (counts[p] > 0 && receiving++ < kMaxElementLines) from[p];
  for (int64_t o = 0; o < n_out; ++o) {
    auto it = from.find(static_cast<int64_t>(source[o]));
    if (it != from.end() && it->second.size() < kMaxTerms) it->second.push_back(o);
  }
  const std::string d = gradient_name(operand);
  for (const auto& [p, os] : from) {
    const auto terms = static_cast<size_t>(counts[p]);
    t << "    " << d << position_text(p, in) << " = ";
    for (size_t i = 0; i < os.size(); ++i)
      t << (i ? " + " : "") << "g" << position_text(os[i], out);
    if (terms > os.size()) t << " + ... (" << terms << " terms)";
    t << "\n";
  }
  if (receiving > kMaxElementLines) {
    const size_t rest = receiving - kMaxElementLines;
    t << "    ... (" << rest << " more element" << (rest == 1 ? " of " : "s of ") << operand
      << (rest == 1 ? " receives" : " receive") << " a gradient)\n";
  }
  return t.str();
}

// A join's step: which part of g each operand receives.
std::string explain_join(const std::string& what, const std::string& f,
                         const std::vector<std::string>& operands, const Tensor* x, const Expr& e,
                         const Shape& out) {
  const size_t n = operands.size();
  const int64_t ndim = x[0].ndim();
  bool select = false;  // each operand is one index along the axis (a new axis of the result)
  int64_t axis = e.has_ints ? e.ints[0] : 0;
  if (f == "stack") {
    select = true;
    if (axis < 0) axis += ndim + 1;
  } else if (f == "hstack") {
    axis = ndim <= 1 ? 0 : 1;
  } else if (f == "vstack") {
    select = ndim <= 1;
    axis = 0;
  } else if (axis < 0) {
    axis += ndim;
  }
  std::ostringstream t;
  t << what << ": joins ";
  for (size_t i = 0; i < n; ++i)
    t << (i == 0       ? ""
          : i + 1 == n ? " and "
                       : ", ")
      << operands[i] << " " << shape_str(x[i].shape());
  t << (select ? " along a new axis " : " along axis ") << axis << " -> " << shape_str(out) << "\n";
  // The graph nodes backward passes, from the same join of leaves of these shapes.
  std::string nodes = f;
  if (numel_of(out) <= kMaxScatterElements) {
    std::vector<Tensor> leaves;
    for (size_t i = 0; i < n; ++i)
      leaves.push_back(zeros(x[i].shape(), DType::f64).requires_grad_());
    nodes = backward_nodes(apply(e, leaves.data(), {}));
  }
  t << "  backward (graph nodes: " << nodes << "): g " << shape_str(out)
    << " is split, each operand\n  receiving its part (a view of g):\n";
  std::map<std::string, int> times;
  int64_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    std::string part;
    for (int64_t a = 0; a < axis; ++a) part += ":, ";
    const int64_t size = select || x[i].ndim() == 0 ? 1 : x[i].size(axis);
    part +=
        select ? std::to_string(i) : std::to_string(offset) + ":" + std::to_string(offset + size);
    offset += size;
    t << "    " << operands[i] << " " << shape_str(x[i].shape()) << " receives g[" << part << "]\n";
    ++times[operands[i]];
  }
  for (const auto& [name, k] : times)
    if (k > 1)
      t << "    " << name << " appears " << k << " times: its gradient is the sum of its " << k
        << " parts\n";
  return t.str();
}

std::string reduction_text(const BroadcastExplanation::Reduction& r, const Shape& op) {
  if (r.summed_axes.empty()) return "nothing to sum: the gradient already has its shape";
  const std::vector<int64_t> kept(r.summed_axes.begin() + r.squeezed, r.summed_axes.end());
  std::string t = "sum over axes " + list_text(r.summed_axes);
  if (!kept.empty()) t += " (keeping axes " + list_text(kept) + " as size 1)";
  if (r.squeezed)
    t += ", then drop the " + std::to_string(r.squeezed) + " leading padded ax" +
         (r.squeezed == 1 ? "is" : "es");
  return t + " -> " + shape_str(op);
}

}  // namespace

std::string explain_expression(const Expr& root, const std::string& text,
                               const std::map<std::string, Tensor>& vars) {
  std::vector<std::string> steps;
  size_t more = 0;
  std::vector<char> depends;  // per finished value (as walk's stack): whether an input flows in
  auto source = [&](const Expr& e) { return shown(text, e); };
  walk(root, vars, [&](const Expr& e, const Tensor* x, const Tensor& value) {
    const size_t n = e.args.size();
    std::vector<char> dep(depends.end() - static_cast<std::ptrdiff_t>(n), depends.end());
    depends.resize(depends.size() - n);
    bool any = e.kind == Expr::Kind::variable;
    for (char c : dep) any = any || c;
    depends.push_back(any);
    if (!any) return;
    const bool room = steps.size() < kMaxSteps;
    const std::string what = "step " + std::to_string(steps.size() + 1) + ", " + source(e);
    std::string step;
    if (e.kind == Expr::Kind::index) {
      if (room)
        step = explain_index(what, source(*e.args[0]), x[0].shape(), e.indices, value.shape());
    } else if (e.kind == Expr::Kind::call && kJoins.count(e.name)) {
      std::vector<std::string> operands;
      for (const auto& a : e.args) operands.push_back(source(*a));
      if (room) step = explain_join(what, e.name, operands, x, e, value.shape());
    } else if ((e.kind == Expr::Kind::binary && e.name != "@") ||
               (e.kind == Expr::Kind::call && kBinary.count(e.name)) ||
               (e.kind == Expr::Kind::call && e.name == "broadcast_to")) {
      // A broadcast: only where an operand an input flows into is stretched.
      const Shape out = value.shape();
      const bool unary = e.name == "broadcast_to";
      const Shape a = x[0].shape(), b = unary ? out : x[1].shape();
      if (!((dep[0] && a != out) || (!unary && dep[1] && b != out))) return;
      const BroadcastExplanation be = explain_broadcast(a, b);
      if (room) {
        std::ostringstream t;
        t << what << ": broadcasts " << source(*e.args[0]) << " " << shape_str(a);
        if (!unary) t << " and " << source(*e.args[1]) << " " << shape_str(b);
        t << " to " << shape_str(out) << "\n  backward: g " << shape_str(out)
          << " is summed down to each operand's shape:\n";
        if (dep[0])
          t << "    " << source(*e.args[0]) << " " << shape_str(a) << ": "
            << reduction_text(be.grad_a, a) << "\n";
        if (!unary && dep[1])
          t << "    " << source(*e.args[1]) << " " << shape_str(b) << ": "
            << reduction_text(be.grad_b, b) << "\n";
        step = t.str();
      }
    } else {
      return;
    }
    if (room)
      steps.push_back(step);
    else
      ++more;
  });
  std::string out;
  if (steps.empty())
    return "Nothing in the expression indexes, joins or broadcasts its inputs: no gradient is\n"
           "scattered, split or summed down on its way back.\n";
  out =
      "Where backward scatters, splits or sums gradients (g: the gradient arriving at a step's\n"
      "result; the steps as the expression computes them, backward takes them last to first):\n";
  for (const std::string& s : steps) out += "\n" + s;
  if (more) out += "\n... and " + std::to_string(more) + " more steps\n";
  return out;
}

Shape parse_shape(const std::string& text) {
  Shape shape;
  std::string t = text;
  size_t offset = 0;
  if (t == "()" || t.empty()) return shape;
  if (t.front() == '(') {
    if (t.back() != ')')
      throw ParseError("expected ')' at the end of the shape", static_cast<int>(t.size()) + 1);
    t = t.substr(1, t.size() - 2);
    offset = 1;
  }
  size_t i = 0;
  int64_t numel = 1;
  while (i <= t.size()) {
    const size_t start = i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i == start) {
      if (i == t.size() && !shape.empty() && t[i - 1] == ',') break;  // "4," like NumPy
      throw ParseError(i < t.size() ? "expected a size, found '" + std::string(1, t[i]) + "'"
                                    : "expected a size",
                       static_cast<int>(offset + i) + 1);
    }
    if (i - start > 12) throw ParseError("size too large", static_cast<int>(offset + start) + 1);
    shape.push_back(std::stoll(t.substr(start, i - start)));
    // Refuse a shape whose element count overflows 64 bits here, where the column is known,
    // rather than deep inside whatever allocates it.
    if (__builtin_mul_overflow(numel, shape.back(), &numel))
      throw ParseError("the shape has more elements than fit in 64 bits",
                       static_cast<int>(offset + start) + 1);
    if (i == t.size()) break;
    if (t[i] != ',')
      throw ParseError("expected ',' between sizes", static_cast<int>(offset + i) + 1);
    ++i;
  }
  return shape;
}

}  // namespace ndgrad::cli
