#include "expr.hpp"

#include <cctype>
#include <cstdlib>

namespace ndgrad::cli {

namespace {

const std::set<std::string> kUnary = {"exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs"};
const std::set<std::string> kBinary = {"pow", "maximum", "minimum"};
const std::set<std::string> kReductions = {"sum", "mean", "max", "min", "logsumexp"};
const std::set<std::string> kAxisFns = {"softmax", "log_softmax"};
const std::set<std::string> kShapeFns = {"reshape", "broadcast_to", "transpose", "permute"};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  std::shared_ptr<Expr> parse() {
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

  std::shared_ptr<Expr> factor() {
    const int col = column();
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
};

}  // namespace

std::shared_ptr<Expr> parse_expression(const std::string& text) { return Parser(text).parse(); }

std::set<std::string> variables_of(const Expr& e) {
  std::set<std::string> out;
  if (e.kind == Expr::Kind::variable) out.insert(e.name);
  for (const auto& a : e.args) {
    auto sub = variables_of(*a);
    out.insert(sub.begin(), sub.end());
  }
  return out;
}

Tensor evaluate(const Expr& e, const std::map<std::string, Tensor>& vars) {
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
      return -evaluate(*e.args[0], vars);
    case Expr::Kind::binary: {
      const Tensor l = evaluate(*e.args[0], vars), r = evaluate(*e.args[1], vars);
      if (e.name == "+") return l + r;
      if (e.name == "-") return l - r;
      if (e.name == "*") return l * r;
      if (e.name == "/") return l / r;
      if (e.name == "@") return matmul(l, r);
      return pow(l, r);
    }
    case Expr::Kind::call:
      break;
  }
  const Tensor x = evaluate(*e.args[0], vars);
  const std::string& f = e.name;
  if (f == "T") return x.T();
  if (f == "exp") return exp(x);
  if (f == "log") return log(x);
  if (f == "sqrt") return sqrt(x);
  if (f == "tanh") return tanh(x);
  if (f == "sigmoid") return sigmoid(x);
  if (f == "relu") return relu(x);
  if (f == "abs") return abs(x);
  if (f == "pow") return pow(x, evaluate(*e.args[1], vars));
  if (f == "maximum") return maximum(x, evaluate(*e.args[1], vars));
  if (f == "minimum") return minimum(x, evaluate(*e.args[1], vars));
  if (f == "sum") return x.sum(e.ints, e.keepdims);
  if (f == "mean") return x.mean(e.ints, e.keepdims);
  if (f == "max") return x.max(e.ints, e.keepdims);
  if (f == "min") return x.min(e.ints, e.keepdims);
  if (f == "logsumexp") return logsumexp(x, e.ints, e.keepdims);
  if (f == "softmax") return nn::softmax(x, e.has_ints ? e.ints[0] : -1);
  if (f == "log_softmax") return nn::log_softmax(x, e.has_ints ? e.ints[0] : -1);
  if (f == "reshape") return x.reshape(e.ints);
  if (f == "broadcast_to") return x.broadcast_to(e.ints);
  if (f == "transpose") return x.transpose(e.ints[0], e.ints[1]);
  return x.permute(e.ints);
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
    if (i == t.size()) break;
    if (t[i] != ',')
      throw ParseError("expected ',' between sizes", static_cast<int>(offset + i) + 1);
    ++i;
  }
  return shape;
}

}  // namespace ndgrad::cli
