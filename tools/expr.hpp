#pragma once
// The small expression language of the ndgrad command-line tool:
//   expr      := term (('+' | '-') term)*
//   term      := factor (('*' | '/' | '@') factor)*
//   factor    := '-' factor | postfix ('^' factor)?
//   postfix   := primary ('.T' | '[' subscript (',' subscript)* ','? ']')*
//   subscript := INT | [INT] ':' [INT] [':' [INT]] | 'None' | '...' | list | 'True' | 'False'
//   list      := '[' (INT | 'True' | 'False' | list) (',' ...)* ']'   (an index tensor)
//   primary   := NUMBER | NAME | NAME '(' args ')' | '(' expr ')'
// Subscripts are NumPy's: x[1:3, 0], x[:, ::-1], x[..., None], x[-1]; a list of integers is an
// i64 index tensor (x[[0, 2, 2]], nested lists for more axes), a list of True/False a mask.
// Functions: the op table's rows, name(x), name(x, y) and the reductions name(x [, axes]
// [, keepdims]); the function table's rows (ndgrad/function_table.def), each called as its form
// says: softmax(x [, axis]), reshape(x, dims), transpose(x, a, b), cat([expr, ...] [, axis]),
// quantile(x, q [, axis]), einsum("ij,jk->ik", a, b), ... (`ndgrad gradcheck --help` lists
// them). Axes and dims are integers or [lists]; numbers are expressions of one value.
// Nesting (parentheses, calls, brackets, unary minus, ^) is limited to kMaxNesting levels and
// the text to kMaxLength characters, both ParseErrors; evaluation, variables_of and destruction
// walk the tree without recursion, so a long flat chain (x + x + ... + x) works at any length.
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
  enum class Kind { number, variable, negate, binary, call, index } kind;
  double value = 0;  // number
  std::string name;  // variable or function; binary: "+", "-", "*", "/", "@", "^"
  std::string text;  // einsum: the subscripts
  std::vector<std::shared_ptr<Expr>> args;  // index: the indexed expression; cat etc.: the list
  std::vector<int64_t> ints;                // axes, dims
  bool has_ints = false, keepdims = false;
  std::vector<TensorIndex> indices;  // index: the subscripts
  int column = 0;
  size_t begin = 0, end = 0;  // the node's text: [begin, end) of the parsed string

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

// How backward routes gradients through expression text (whose parse is e), step by step: each
// subscript (where the gradient is scattered back: which elements get zero, which accumulate),
// each join (cat, stack: which part of the gradient each operand gets) and each broadcast (the
// axes summed), for inputs of vars' shapes. Errors as evaluate's.
std::string explain_expression(const Expr& e, const std::string& text,
                               const std::map<std::string, Tensor>& vars);

// The op table's functions (elementwise, then reductions), for help texts.
std::string table_functions();

// "3,4" -> (3,4); "" or "()" -> (); ParseError pointing at the bad character.
Shape parse_shape(const std::string& text);

}  // namespace ndgrad::cli
