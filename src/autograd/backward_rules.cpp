// Each recorded op's backward rule as a line of NumPy notation, for explain_grad and its CLI.
// The op table's rows give their own derivative column (the formula the node runs, so it
// cannot drift); the other ops have a line here, and a test checks that every op a node
// registers has one (tests/autograd/test_explain_grad.cpp).
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ndgrad/explain.hpp"

namespace ndgrad {

namespace {

// Per input, in the op's argument order; an op with one line uses it for every input.
using Rules = std::vector<std::string>;

const std::map<std::string, Rules>& rule_table() {
  static const std::map<std::string, Rules> table = [] {
    std::map<std::string, Rules> t;
#define NDGRAD_UNARY_OP(name, dtypes, domain, fusion, saves, g_reads, derivative) \
  t[#name] = {"dx = " #derivative "   (y = " #name "(x))"};
#define NDGRAD_BINARY_OP(name, dtypes, domain, fusion, saves_a, saves_b, g_reads, grad_a, grad_b) \
  t[#name] = {"da = " #grad_a "   (y = " #name "(a, b))",                                         \
              "db = " #grad_b "   (y = " #name "(a, b))"};
#define NDGRAD_REDUCTION_OP(name, bool_as, empty, saves, derivative) \
  t[#name] = {"dx = " #derivative "   (g, y = " #name "(x, axes) with keepdims)"};
#include "ndgrad/op_table.def"
    const std::pair<const char*, Rules> others[] = {
        {"matmul", {"da = g @ b.mT   (y = a @ b)", "db = a.mT @ g   (y = a @ b)"}},
        {"broadcast_to", {"dx = g summed over the broadcast axes (np.sum(g, axes) to x.shape)"}},
        {"to", {"dx = g.astype(x.dtype)"}},
        {"contiguous", {"dx = g"}},
        {"reshape", {"dx = g.reshape(x.shape)"}},
        {"permute", {"dx = g.transpose(np.argsort(axes))"}},
        {"squeeze", {"dx = g.reshape(x.shape)"}},
        {"unsqueeze", {"dx = g.reshape(x.shape)"}},
        {"index", {"dx = np.zeros_like(x); np.add.at(dx, idx, g)"}},
        {"index_backward", {"dg = grad[idx]   (the gather that index's scatter undoes)"}},
        {"take", {"dx = np.zeros(x.size); np.add.at(dx, idx, g); dx.reshape(x.shape)"}},
        {"take_backward", {"dg = grad.ravel()[idx]"}},
        {"masked_select", {"dx = np.zeros_like(x); dx[mask] = g"}},
        {"masked_select_backward", {"dg = grad[mask]"}},
        {"diagonal", {"dx = np.zeros_like(x); np.diagonal(dx)[...] = g"}},
        {"diagonal_backward", {"dg = np.diagonal(grad)"}},
        {"cat", {"dx_i = np.split(g, offsets, axis)[i]"}},
        {"where", {"da = np.where(cond, g, 0)", "db = np.where(cond, 0, g)"}},
        {"index_put",
         {"dx = g.copy(); dx[idx] = 0   (overwritten elements get nothing)",
          "dvalues = g[idx] (summed to values.shape)"}},
        {"cumsum", {"dx = np.flip(np.cumsum(np.flip(g, axis), axis), axis)"}},
        {"cumprod", {"dx = reversed cumsum of g * y, divided by x (zeros handled exactly)"}},
        {"logcumsumexp", {"dx = reversed cumsum of g * exp(-y), times exp(x)"}},
        {"linear_recurrence",
         {"da[k] = lam[k] * y[k-1]   (lam: the recurrence run backward on g with a shifted)",
          "db = lam"}},
        {"var", {"dx = g * 2 * (x - x.mean(axes)) / (N - ddof)"}},
        {"linalg_solve", {"da = -db @ y.mT", "db = np.linalg.solve(a.mT, g)"}},
        {"linalg_solve_triangular",
         {"da = -db @ y.mT (the triangle a is read from)", "db = solve_triangular(a.mT, g)"}},
        {"linalg_det", {"dx = g * det(x) * inv(x).mT"}},
        {"linalg_slogdet", {"dx = g * inv(x).mT"}},
        {"linalg_cholesky",
         {"dx = sym(L^-T Phi(L^T gL) L^-1) / 2   (Phi: lower triangle, diagonal halved)"}},
        {"linalg_qr", {"dx = (gR + Q copyltu(M)) R^-T   (M = R gR^T - gQ^T Q)"}},
        {"linalg_eigh", {"dx = V diag(gw) V^T   (the eigenvalues' gradient)"}},
        {"linalg_svd", {"dx = U diag(gs) V^T   (the singular values' gradient)"}},
        {"linalg_pinv", {"dx = -P^T g P^T + projections onto the null spaces (P = pinv(x))"}},
        {"batch_norm", {"dx = (g - mean(g) - xhat * mean(g * xhat)) / std   (per channel)"}},
        {"layer_norm",
         {"dx = (g - mean(g) - xhat * mean(g * xhat)) / std   (over the normalized axes)"}},
        {"conv2d",
         {"dx = conv_transpose2d(g, w)", "dw = correlate(x, g) summed over the batch",
          "db = g.sum((0, 2, 3))"}},
        {"unfold", {"dx = fold(g)   (overlapping windows add)"}},
        {"fold", {"dx = unfold(g)"}},
        {"max_pool2d", {"dx = zeros; each window's g goes to its max (ties: the first)"}},
        {"cross_entropy",
         {"dlogits = (softmax(logits) - onehot(target)) * g / N   (N: the rows averaged)"}},
    };
    for (const auto& [name, rules] : others) t[name] = rules;
    return t;
  }();
  return table;
}

}  // namespace

std::string backward_rule(const std::string& op, size_t input) {
  const auto& table = rule_table();
  auto it = table.find(op);
  if (it == table.end() || it->second.empty()) return "";
  const Rules& r = it->second;
  std::string rule = r[std::min(input, r.size() - 1)];
  // The helpers the op table's derivatives call, spelled out.
  static const std::pair<const char*, const char*> glossary[] = {
      {"tanh_backward(g, y)", "g * (1 - y**2)"},
      {"sigmoid_backward(g, y)", "g * y * (1 - y)"},
      {"relu_backward(g, x)", "np.where(x > 0, g, 0)"},
      {"pow_base_grad(g, a, b)", "g * b * a**(b - 1)"},
      {"pow_exponent_grad(g, a, b, y)", "g * y * log(a)"},
      {"select_grad(", "g where this operand is the one chosen, else 0"},
      {"extreme_grad(", "g shared among the elements of x equal to y"},
      {"prod_grad(", "g * y / x, computed without dividing by zeros"},
      {"logit_grad(x)", "1 / (x * (1 - x))"},
  };
  for (const auto& [helper, meaning] : glossary)
    if (rule.find(helper) != std::string::npos)
      rule += std::string("; ") + (helper[std::strlen(helper) - 1] == '(' ? "that is, " : helper) +
              (helper[std::strlen(helper) - 1] == '(' ? "" : " = ") + meaning;
  return rule;
}

}  // namespace ndgrad
