// Every name in the public contract (API.md), used with the signature it states. Compiling this
// in an outside project is the check; running it checks a few meanings besides.
#include <cstdio>
#include <functional>
#include <ndgrad/ndgrad.hpp>
#include <sstream>
#include <type_traits>

using namespace ndgrad;

static_assert(std::is_base_of_v<std::runtime_error, Error>);
static_assert(std::is_base_of_v<Error, ShapeError> && std::is_base_of_v<Error, AxisError> &&
              std::is_base_of_v<Error, AutogradError> && std::is_base_of_v<Error, DTypeError> &&
              std::is_base_of_v<Error, IOError> && std::is_base_of_v<Error, ValueError>);
static_assert(std::is_same_v<Shape, std::vector<int64_t>>);

bool api_contract() {
  // Construction
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3}, DType::f64);
  Tensor s = scalar(2.0), z = zeros({2, 3}), o = ones({3}, DType::f32), f = full({2}, 1.5);
  Tensor r = arange(4, DType::i64), n = randn({2, 3}, 7), u = rand({2, 3}, 8), e = eye(3);
  // Inspection
  Shape sh = a.shape();
  int64_t nd = a.ndim(), ne = a.numel();
  DType dt = a.dtype();
  bool def = a.defined() && !Tensor().defined();
  std::vector<double> v = a.to_vector();
  double it = s.item();
  Tensor c = a.to(DType::f32).contiguous();
  std::ostringstream os;
  os << a;
  // Autograd
  Tensor x = randn({2, 3}, 1, DType::f64);
  Tensor& xr = x.requires_grad_(true);
  bool rg = xr.requires_grad();
  (x * a).sum().backward();
  Tensor g = x.grad();
  x.zero_grad();
  (x * a).backward(ones({2, 3}, DType::f64), false, false);
  Tensor d = x.detach();
  { NoGradGuard guard; }
  std::vector<Tensor> gs = grad((x * x).sum(), std::vector<Tensor>{x}, Tensor(), false);
  Tensor J =
      jacobian(std::function<Tensor(const Tensor&)>([](const Tensor& t) { return t * 2.0; }), x);
  GradcheckResult gc = gradcheck(std::function<Tensor(const std::vector<Tensor>&)>(
                                     [](const std::vector<Tensor>& in) { return tanh(in[0]); }),
                                 std::vector<Tensor>{n}, 1e-6, 1e-5, 1e-3);
  bool gc_fields = gc.ok && gc.max_abs_error >= 0 && gc.max_rel_error >= 0 && !gc.report.empty();
  // Broadcasting and shape ops
  Shape bs = broadcast_shapes({3, 1}, {1, 4});
  Tensor v1 = o.broadcast_to({2, 3}), v2 = a.reshape({3, -1}), v3 = a.flatten(),
         v4 = a.transpose(0, 1);
  Tensor v5 = a.T(), v6 = a.permute({1, 0}), v7 = a.unsqueeze(0).squeeze(0), v8 = sum_to(a, {1, 3});
  // Elementwise
  Tensor b = tensor({1, 2, 3}, {3}, DType::f64);
  Tensor ew = a + b, ew2 = a - b, ew3 = a * b, ew4 = a / b, ew5 = a + 1.0, ew6 = 1.0 + a,
         ew7 = a - 1.0, ew8 = 1.0 - a, ew9 = a * 2.0, ew10 = 2.0 * a, ew11 = a / 2.0,
         ew12 = 2.0 / a, ew13 = -a;
  Tensor p1 = pow(a, 2.0), p2 = pow(a, b), m1 = exp(a), m2 = log(a), m3 = sqrt(a), m4 = tanh(a),
         m5 = sigmoid(a), m6 = relu(a), m7 = abs(a), m8 = maximum(a, b), m9 = minimum(a, b);
  Tensor w = where(a > b, a, b);
  Tensor c1 = a == b, c2 = a != b, c3 = a<b, c4 = a <= b, c5 = a> b, c6 = a >= b;
  Tensor c7 = a == 1.0, c8 = a != 1.0, c9 = a<1.0, c10 = a <= 1.0, c11 = a> 1.0, c12 = a >= 1.0;
  // Reductions
  Tensor r1 = a.sum(), r2 = a.sum({0}, true), r3 = a.mean({-1}), r4 = a.max({0}), r5 = a.min();
  Tensor r6 = a.argmax(1), r7 = logsumexp(a, {1}, false);
  Tensor r8 = sum(a, {0}, false), r9 = mean(a, {1}), r10 = max(a), r11 = min(a, {0}, true);
  // Linear algebra
  Tensor mm = matmul(a, a.T()), mm2 = a.matmul(b);
  // nn and optim
  Tensor logits = randn({4, 3}, 2);
  Tensor labels = tensor({0, 2, 1, 0}, {4}, DType::i64);
  Tensor l1 = nn::log_softmax(logits, -1), l2 = nn::softmax(logits),
         l3 = nn::cross_entropy(logits, labels);
  Tensor l4 = nn::mse_loss(logits, logits * 0.5);
  nn::Sequential model(nn::Linear(3, 4, 1), nn::ReLU(), nn::Linear(4, 3, 2), nn::Tanh(),
                       nn::Sigmoid());
  nn::Module& mod = model;
  std::vector<Tensor> params = mod.parameters();
  Tensor out = mod.forward(randn({2, 3}, 3));
  optim::SGD sgd(params, 0.1, 0.9, 0.0);
  optim::Adam adam(params, 1e-3, 0.9, 0.999, 1e-8);
  nn::cross_entropy(model.forward(randn({4, 3}, 4)), labels).backward();
  sgd.step();
  adam.step();
  sgd.zero_grad();
  adam.zero_grad();
  const std::string path = "ndgrad_api_contract.npz";
  mod.save(path);
  mod.load(path);
  std::remove(path.c_str());
  (void)nd, (void)ne, (void)dt, (void)it, (void)rg, (void)d, (void)J, (void)bs, (void)out;
  return def && sh == Shape{2, 3} && v.size() == 6 && c.dtype() == DType::f32 && gc_fields &&
         gs[0].shape() == x.shape() && bs == Shape{3, 4} && r1.item() == 21 &&
         mm.shape() == Shape{2, 2} && mm2.shape() == Shape{2} && g.defined() && !os.str().empty() &&
         params.size() == 4;
}
