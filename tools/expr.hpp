#pragma once
// The small expression language of the ndgrad command-line tool:
//   expr    := term (('+' | '-') term)*
//   term    := factor (('*' | '/' | '@') factor)*
//   factor  := '-' factor | postfix ('^' factor)?
//   postfix := primary ('.T')*
//   primary := NUMBER | NAME | NAME '(' args ')' | '(' expr ')'
// Functions: exp log sqrt tanh sigmoid relu abs, pow maximum minimum, sum mean max min
// logsumexp (expr [, axes] [, keepdims]), softmax log_softmax (expr [, axis]), reshape
// broadcast_to (expr, dims), transpose (expr, a, b), permute (expr, axes). Axes and dims are
// integers or [lists].
// Nesting (parentheses, calls, unary minus, ^) is limited to kMaxNesting levels and the text
// to kMaxLength characters, both ParseErrors; evaluation, variables_of and destruction walk
// the tree without recursion, so a long flat chain (x + x + ... + x) works at any length.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ndgrad/ndgrad.hpp"

namespace ndgrad::cli {

// A malformed expression or shape; column is 1-based.
class ParseError : public ValueError {
 public:
  ParseError(const std::string& message, int column)
      : ValueError("column " + std::to_string(column) + ": " + message), column(column) {}
  int column;
};

// The deepest nesting parse_expression accepts, and the longest text.
constexpr int kMaxNesting = 256;
constexpr size_t kMaxLength = size_t(1) << 20;

struct Expr {
  enum class Kind { number, variable, negate, binary, call } kind;
  double value = 0;  // number
  std::string name;  // variable or function; binary: "+", "-", "*", "/", "@", "^"
  std::vector<std::shared_ptr<Expr>> args;
  std::vector<int64_t> ints;  // axes, dims
  bool has_ints = false, keepdims = false;
  int column = 0;

  Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  // Frees the subtree with an explicit stack: a left-deep chain of 60,000 sums would otherwise
  // recurse once per node through shared_ptr's destructor.
  ~Expr();
};

std::shared_ptr<Expr> parse_expression(const std::string& text);
std::set<std::string> variables_of(const Expr& e);
Tensor evaluate(const Expr& e, const std::map<std::string, Tensor>& vars);

// The op table's functions (elementwise, then reductions), for help texts.
std::string table_functions();

// "3,4" -> (3,4); "" or "()" -> (); ParseError pointing at the bad character.
Shape parse_shape(const std::string& text);

}  // namespace ndgrad::cli
