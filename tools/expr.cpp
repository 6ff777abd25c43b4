#include "expr.hpp"

#include <cctype>
#include <cstdlib>

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
// The op table's reductions, then those written with them.
using Reduction = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);
const std::map<std::string, Reduction> kReductions = {
#define NDGRAD_REDUCTION_OP(name, ...)                                           \
  {#name, [](const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) { \
     return name(x, axes, keepdims);                                             \
   }},
#include "ndgrad/op_table.def"
    {"mean", [](const Tensor& x, const std::vector<int64_t>& axes,
                bool keepdims) { return mean(x, axes, keepdims); }},
    {"logsumexp", [](const Tensor& x, const std::vector<int64_t>& axes,
                     bool keepdims) { return logsumexp(x, axes, keepdims); }},
};
const std::set<std::string> kAxisFns = {"softmax", "log_softmax"};
const std::set<std::string> kShapeFns = {"reshape", "broadcast_to", "transpose", "permute"};

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
  // passes through factor(), so counting here bounds the parser's recursion: deeper input
  // would overflow the call stack rather than fail.
  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting)
        p.fail("nested more than " + std::to_string(kMaxNesting) +
               " levels deep (parentheses, calls, unary minus, ^)");
    }
    ~Nest() { --p.depth_; }
  };

  std::shared_ptr<Expr> factor() {
    const int col = column();
    const Nest nest(*this);
    if (accept("-")) {
      auto e = node(Expr::Kind::negate, col);
      e->args = {factor()};
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
      if (!accept(".T")) return e;
      auto t = node(Expr::Kind::call, col);
      t->name = "T";
      t->args = {e};
      e = t;
    }
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
      return e;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      const size_t start = pos_;
      while (pos_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_'))
        ++pos_;
      const std::string name = s_.substr(start, pos_ - start);
      skip();
      if (pos_ >= s_.size() || s_[pos_] != '(') {
        auto e = node(Expr::Kind::variable, col);
        e->name = name;
        return e;
      }
      return call(name, col);
    }
    if (accept("(")) {
      auto e = expr();
      expect(")");
      return e;
    }
    fail("unexpected '" + std::string(1, c) + "'");
  }

  std::shared_ptr<Expr> call(const std::string& name, int col) {
    const bool known = kUnary.count(name) || kBinary.count(name) || kReductions.count(name) ||
                       kAxisFns.count(name) || kShapeFns.count(name);
    if (!known) {
      pos_ = static_cast<size_t>(col - 1);
      fail("unknown function '" + name + "'");
    }
    expect("(");
    auto e = node(Expr::Kind::call, col);
    e->name = name;
    e->args.push_back(expr());
    if (kUnary.count(name)) {
      // one argument
    } else if (kBinary.count(name)) {
      expect(",");
      e->args.push_back(expr());
    } else if (kReductions.count(name)) {
      while (accept(",")) {
        skip();
        if (accept("keepdims"))
          e->keepdims = true;
        else if (e->has_ints)
          fail("expected 'keepdims'");
        else
          integers(*e);
      }
    } else if (kAxisFns.count(name)) {
      if (accept(",")) {
        e->has_ints = true;
        e->ints.push_back(integer());
      }
    } else {  // reshape, broadcast_to, transpose, permute
      expect(",");
      integers(*e);
      if (name == "transpose" && e->ints.size() != 2) fail("transpose takes two axes");
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
    case Expr::Kind::call:
      break;
  }
  const std::string& f = e.name;
  if (f == "T") return x[0].T();
  if (auto it = kUnary.find(f); it != kUnary.end()) return it->second(x[0]);
  if (auto it = kBinary.find(f); it != kBinary.end()) return it->second(x[0], x[1]);
  if (auto it = kReductions.find(f); it != kReductions.end())
    return it->second(x[0], e.ints, e.keepdims);
  if (f == "softmax") return nn::softmax(x[0], e.has_ints ? e.ints[0] : -1);
  if (f == "log_softmax") return nn::log_softmax(x[0], e.has_ints ? e.ints[0] : -1);
  if (f == "reshape") return x[0].reshape(e.ints);
  if (f == "broadcast_to") return x[0].broadcast_to(e.ints);
  if (f == "transpose") return x[0].transpose(e.ints[0], e.ints[1]);
  return x[0].permute(e.ints);
}

}  // namespace

std::string table_functions() {
  std::string text;
  auto list = [&](const auto& table, const char* args) {
    std::string line = " ";
    for (const auto& entry : table) {
      if (line.size() + entry.first.size() > 88) {
        text += line + "\n";
        line = " ";
      }
      line += " " + entry.first;
    }
    text += line + " " + args + "\n";
  };
  list(kUnary, "(x)");
  list(kBinary, "(x, y)");
  list(kReductions, "(x [, axes] [, keepdims]), e.g. sum(x, [0, 2], keepdims)");
  return text;
}

Tensor evaluate(const Expr& root, const std::map<std::string, Tensor>& vars) {
  // Post-order with explicit stacks: a flat chain (x + x + ... + x) is a tree as deep as it is
  // long, too deep to recurse on the call stack. Children are evaluated left to right.
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
    Tensor value = apply(e, values.data() + (values.size() - n), vars);
    values.resize(values.size() - n);
    values.push_back(std::move(value));
  }
  return values.back();
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
