#pragma once
// Optimizers and learning-rate schedules, torch.optim's semantics. step() updates parameters in
// place without recording a graph.
//
// Parameters come in groups, each with its own lr, weight_decay and momentum (SGD's and
// RMSprop's momentum; Adam's and AdamW's beta1); the other options are the optimizer's. A
// schedule changes the groups' lr (one-cycle also their momentum). Per-parameter state (Adam's
// moments, SGD's momentum buffer...) is made on the parameter's first update, in f32 for f16 and
// bf16 parameters (whose update is computed in f32 and rounded once), and, with the groups'
// options, is what state_dict() holds: a checkpoint restores an optimizer exactly.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ndgrad/tensor.hpp"

namespace ndgrad::optim {

// Options in libtorch's style: SGDOptions(0.1).momentum(0.9).nesterov(true).
#define NDGRAD_OPTION(T, name)                       \
  auto& name(const T& value) {                       \
    name##_ = value;                                 \
    return *this;                                    \
  }                                                  \
  const T& name() const noexcept { return name##_; } \
  T name##_

// Parameters with options of their own; an option left unset takes the optimizer's. Once the
// optimizer is made, every option of its groups is set.
struct ParamGroup {
  ParamGroup(std::vector<Tensor> params) : params(std::move(params)) {}  // NOLINT: implicit
  ParamGroup(std::vector<Tensor> params, double lr) : params(std::move(params)), lr(lr) {}
  std::vector<Tensor> params;
  std::optional<double> lr, weight_decay, momentum;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient (a frozen one, requires_grad false, has none).
  void step();
  void zero_grad();  // clears every parameter's gradient
  // All parameters, the groups' in order.
  const std::vector<Tensor>& params() const { return params_; }
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // The first group's lr; set_lr sets every group's.
  double lr() const { return *groups_.at(0).lr; }
  void set_lr(double lr);
  // Whether the groups' momentum option means anything here (Adagrad's: no).
  virtual bool has_momentum() const { return true; }

  // "param_groups.G.lr", ".weight_decay", ".momentum" (f64, 0-d), "param_groups.G.params" (the
  // indices of its parameters, i64), "options.NAME" (f64, 0-d: the optimizer-wide options, flags
  // as 0 or 1: SGD's dampening and nesterov; Adam's beta2, eps, amsgrad and decoupled (AdamW: 1);
  // RMSprop's alpha, eps, centered; Adagrad's lr_decay, initial_accumulator_value, eps),
  // "state.K.step" (i64, 0-d: the updates parameter K had) and "state.K.NAME" (its state
  // tensors, PyTorch's names: momentum_buffer, exp_avg, exp_avg_sq, max_exp_avg_sq, square_avg,
  // grad_avg, sum), K counting parameters over groups.
  std::map<std::string, Tensor> state_dict() const;
  // Checks everything first (the groups, every name, shape and dtype: a ValueError naming the
  // entry) and changes nothing then; the tensors are copied. The groups' options are restored;
  // the optimizer-wide ones must equal this optimizer's (a ValueError naming the option: an
  // optimizer made with other options would update differently from the saved one; a state
  // without "options." entries, as written before they existed, is taken as it is).
  void load_state_dict(const std::map<std::string, Tensor>& state);
  void check_state_dict(const std::map<std::string, Tensor>& state) const;

 protected:
  // What a subclass's update of one parameter sees: w the values to update (the parameter, or
  // an f32 copy), g its gradient (contiguous, w's dtype), the state tensors by name (made on
  // first use by state()), and the group's options.
  struct Update {
    Tensor w, g;
    const ParamGroup& group;
    int64_t step;  // this update's number, from 1
    std::map<std::string, Tensor>& buffers;
    bool has(const std::string& name) const { return buffers.count(name) > 0; }
    // The state tensor of name, made (zeros, or fill) on first use.
    char* state(const std::string& name, double fill = 0);
    char* param() const;
    const char* grad() const;
    int64_t numel() const { return w.numel(); }
  };
  // groups' unset options take these; name is the optimizer's, for errors.
  Optimizer(std::vector<ParamGroup> groups, const char* name, double lr, double weight_decay,
            double momentum);
  virtual void update(Update& u) = 0;
  // The state names this optimizer may hold, and those a parameter with updates must hold
  // (what its next update reads; one of another configuration, amsgrad's, is refused).
  virtual std::vector<std::string> state_names() const = 0;
  virtual std::vector<std::string> required_state_names() const { return {}; }
  // The optimizer-wide options by name (flags as 0 or 1), as state_dict writes them.
  virtual std::vector<std::pair<std::string, double>> option_values() const { return {}; }
  const char* name_;

 private:
  struct ParamState {
    int64_t step = 0;
    std::map<std::string, Tensor> buffers;
  };
  void check_group_options(const ParamGroup& g, size_t index) const;
  std::vector<Tensor> params_;
  std::vector<ParamGroup> groups_;
  std::vector<size_t> group_of_;  // per parameter
  std::vector<ParamState> state_;
};

struct SGDOptions {
  SGDOptions(double lr) : lr_(lr) {}  // NOLINT: implicit, SGD(params, 0.1)
  NDGRAD_OPTION(double, lr);
  NDGRAD_OPTION(double, momentum) = 0;
  NDGRAD_OPTION(double, dampening) = 0;
  NDGRAD_OPTION(double, weight_decay) = 0;
  NDGRAD_OPTION(bool, nesterov) = false;
};

// d = g + weight_decay p; with momentum, b = momentum b + (1 - dampening) d (b = d on the
// first update) and d = b, or d + momentum b with nesterov; p -= lr d.
class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, SGDOptions options);
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0);
  SGDOptions options;

 protected:
  void update(Update& u) override;
  std::vector<std::string> state_names() const override { return {"momentum_buffer"}; }
  std::vector<std::pair<std::string, double>> option_values() const override {
    return {{"dampening", options.dampening()}, {"nesterov", options.nesterov() ? 1.0 : 0.0}};
  }
};

struct AdamOptions {
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit
  NDGRAD_OPTION(double, lr);
  NDGRAD_OPTION(double, beta1) = 0.9;
  NDGRAD_OPTION(double, beta2) = 0.999;
  NDGRAD_OPTION(double, eps) = 1e-8;
  NDGRAD_OPTION(double, weight_decay) = 0;
  NDGRAD_OPTION(bool, amsgrad) = false;
};

// Adam with bias correction: g += weight_decay p (L2, added to the gradient); m = b1 m + (1 -
// b1) g, v = b2 v + (1 - b2) g^2 (amsgrad: v_max = max(v_max, v) in the denominator);
// p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps). The group's momentum is b1.
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, AdamOptions options = {});
  Adam(std::vector<Tensor> params, AdamOptions options);
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8);
  AdamOptions options;

 protected:
  Adam(std::vector<ParamGroup> groups, AdamOptions options, const char* name, bool decoupled);
  void update(Update& u) override;
  std::vector<std::string> state_names() const override {
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  }
  std::vector<std::string> required_state_names() const override {
    if (options.amsgrad()) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }
  std::vector<std::pair<std::string, double>> option_values() const override {
    return {{"beta2", options.beta2()},
            {"eps", options.eps()},
            {"amsgrad", options.amsgrad() ? 1.0 : 0.0},
            {"decoupled", decoupled_ ? 1.0 : 0.0}};
  }

 private:
  bool decoupled_;
};

// Adam's options with weight_decay 1e-2 (a setter returns AdamOptions: AdamW takes them, as
// they are). AdamW's constructors take these, so an lr alone (AdamW(groups, 1e-3)) gets the
// 1e-2, not AdamOptions' 0.
struct AdamWOptions : AdamOptions {
  AdamWOptions(double lr = 1e-3) : AdamOptions(lr) { weight_decay(1e-2); }  // NOLINT: implicit
  AdamWOptions(const AdamOptions& o) : AdamOptions(o) {}                    // NOLINT: implicit
};

// Adam with decoupled weight decay: p *= 1 - lr weight_decay before Adam's step (without the
// L2 term).
class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  AdamW(std::vector<Tensor> params, double lr) : AdamW(std::move(params), AdamWOptions(lr)) {}
};

struct RMSpropOptions {
  RMSpropOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT: implicit
  NDGRAD_OPTION(double, lr);
  NDGRAD_OPTION(double, alpha) = 0.99;
  NDGRAD_OPTION(double, eps) = 1e-8;
  NDGRAD_OPTION(double, weight_decay) = 0;
  NDGRAD_OPTION(double, momentum) = 0;
  NDGRAD_OPTION(bool, centered) = false;
};

// g += weight_decay p; s = alpha s + (1 - alpha) g^2; centered: a = alpha a + (1 - alpha) g and
// s - a^2 in place of s; d = sqrt(s) + eps; with momentum b = momentum b + g / d and p -= lr b,
// else p -= lr g / d.
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options = {});
  RMSprop(std::vector<Tensor> params, RMSpropOptions options = {});
  RMSpropOptions options;

 protected:
  void update(Update& u) override;
  std::vector<std::string> state_names() const override {
    return {"square_avg", "momentum_buffer", "grad_avg"};
  }
  std::vector<std::string> required_state_names() const override {
    if (options.centered()) return {"square_avg", "grad_avg"};
    return {"square_avg"};
  }
  std::vector<std::pair<std::string, double>> option_values() const override {
    return {{"alpha", options.alpha()},
            {"eps", options.eps()},
            {"centered", options.centered() ? 1.0 : 0.0}};
  }
};

struct AdagradOptions {
  AdagradOptions(double lr = 1e-2) : lr_(lr) {}  // NOLINT: implicit
  NDGRAD_OPTION(double, lr);
  NDGRAD_OPTION(double, lr_decay) = 0;
  NDGRAD_OPTION(double, weight_decay) = 0;
  NDGRAD_OPTION(double, initial_accumulator_value) = 0;
  NDGRAD_OPTION(double, eps) = 1e-10;
};

// g += weight_decay p; s += g^2 (s starts at initial_accumulator_value);
// p -= lr / (1 + (t - 1) lr_decay) g / (sqrt(s) + eps).
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ParamGroup> groups, AdagradOptions options = {});
  Adagrad(std::vector<Tensor> params, AdagradOptions options = {});
  AdagradOptions options;
  bool has_momentum() const override { return false; }

 protected:
  void update(Update& u) override;
  std::vector<std::string> state_names() const override { return {"sum"}; }
  std::vector<std::string> required_state_names() const override { return {"sum"}; }
  std::vector<std::pair<std::string, double>> option_values() const override {
    return {{"lr_decay", options.lr_decay()},
            {"initial_accumulator_value", options.initial_accumulator_value()},
            {"eps", options.eps()}};
  }
};

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules (torch.optim.lr_scheduler's). A schedule records the groups' lr when
// made (base lrs) and sets them for epoch 0; each step() advances one epoch (or one batch, as
// the loop calls it) and sets every group's lr from its closed form.
class StateReader;

// The state every schedule can save and restore (a checkpoint's "scheduler.*" entries).
class Scheduler {
 public:
  explicit Scheduler(Optimizer& optimizer) : optimizer_(optimizer) {}
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;
  int64_t last_epoch() const { return last_epoch_; }
  std::vector<double> get_last_lr() const;  // the groups' lr now
  // "last_epoch" (i64, 0-d) and the schedule's own entries. Loading restores the schedule,
  // not the groups' lr (the optimizer's state has them: PyTorch's split).
  virtual std::map<std::string, Tensor> state_dict() const;
  // Checks every entry first (a ValueError naming it) and changes nothing then.
  void check_state_dict(const std::map<std::string, Tensor>& state) const;
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // Reads (checks) each entry of the schedule's state; stores them when apply.
  virtual void visit(StateReader& r, bool apply);
  Optimizer& optimizer_;
  int64_t last_epoch_ = 0;
};

// A schedule of closed form: made, it records the groups' lr (base lrs) and sets them for
// epoch 0; each step() advances one epoch (or one batch, as the loop calls it) and sets every
// group's lr for it.
class LRScheduler : public Scheduler {
 public:
  explicit LRScheduler(Optimizer& optimizer);
  void step();
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  std::map<std::string, Tensor> state_dict() const override;  // and "base_lrs" (f64, a group's)

 protected:
  void visit(StateReader& r, bool apply) override;
  // The lr of group g at epoch t.
  virtual double lr_at(size_t g, int64_t t) const = 0;
  virtual void momentum_at(int64_t) {}  // one-cycle's momentum
  void apply();                         // sets the groups' lr (and momentum) for last_epoch_
  std::vector<double> base_lrs_;
};

// base gamma^floor(t / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  const int64_t step_size;
  const double gamma;

 protected:
  double lr_at(size_t g, int64_t t) const override;
};

// base gamma^(the milestones <= t)
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<int64_t> milestones, double gamma = 0.1);
  const std::vector<int64_t> milestones;  // increasing
  const double gamma;

 protected:
  double lr_at(size_t g, int64_t t) const override;
};

// base gamma^t
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  const double gamma;

 protected:
  double lr_at(size_t g, int64_t t) const override;
};

// eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2 (PyTorch's closed form)
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0);
  const int64_t T_max;
  const double eta_min;

 protected:
  double lr_at(size_t g, int64_t t) const override;
};

// A linear warmup then a cosine decay: base (start_factor + (1 - start_factor) t / warmup) for
// t < warmup, then eta_min + (base - eta_min) (1 + cos(pi (t - warmup) / (total - warmup))) / 2
// up to total, eta_min after (the transformers' cosine schedule with warmup, start_factor 0).
class CosineWarmupLR : public LRScheduler {
 public:
  CosineWarmupLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                 double eta_min = 0, double start_factor = 0);
  const int64_t warmup_steps, total_steps;
  const double eta_min, start_factor;

 protected:
  double lr_at(size_t g, int64_t t) const override;
};

struct OneCycleOptions {
  OneCycleOptions(double max_lr, int64_t total_steps)  // NOLINT: two arguments
      : max_lr_(max_lr), total_steps_(total_steps) {}
  NDGRAD_OPTION(double, max_lr);
  NDGRAD_OPTION(int64_t, total_steps);
  NDGRAD_OPTION(double, pct_start) = 0.3;
  NDGRAD_OPTION(bool, cos_anneal) = true;  // false: linear
  NDGRAD_OPTION(bool, cycle_momentum) = true;
  NDGRAD_OPTION(double, base_momentum) = 0.85;
  NDGRAD_OPTION(double, max_momentum) = 0.95;
  NDGRAD_OPTION(double, div_factor) = 25;
  NDGRAD_OPTION(double, final_div_factor) = 1e4;
  NDGRAD_OPTION(bool, three_phase) = false;
};

// The 1cycle policy (PyTorch's OneCycleLR): from max_lr / div_factor up to max_lr over
// pct_start of total_steps, then down to max_lr / (div_factor * final_div_factor), cosine or
// linear (three_phase: up, back down to the start, then to the minimum). With cycle_momentum
// the groups' momentum (Adam's beta1) goes the other way, max_momentum down to base_momentum
// and back. Stepped once a batch; a step past total_steps is a ValueError (PyTorch's).
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, OneCycleOptions options);
  const OneCycleOptions options;

 protected:
  double lr_at(size_t g, int64_t t) const override;
  void momentum_at(int64_t t) override;

 private:
  struct Phase {
    double end_step;
    int start, end;  // 0 initial, 1 max, 2 min (lr); momentum goes the other way
  };
  double anneal(int64_t t, double initial, double max, double min) const;
  std::vector<Phase> phases_;
};

// Lowers every group's lr by factor once the metric given to step() has not improved for more
// than patience steps (then waits cooldown steps), never below min_lr; an improvement beats the
// best by threshold (relative, or absolute with threshold_rel false), in mode min or max.
// Changes smaller than eps are not made.
struct ReduceLROnPlateauOptions {
  NDGRAD_OPTION(bool, mode_max) = false;
  NDGRAD_OPTION(double, factor) = 0.1;
  NDGRAD_OPTION(int64_t, patience) = 10;
  NDGRAD_OPTION(double, threshold) = 1e-4;
  NDGRAD_OPTION(bool, threshold_rel) = true;
  NDGRAD_OPTION(int64_t, cooldown) = 0;
  NDGRAD_OPTION(double, min_lr) = 0;
  NDGRAD_OPTION(double, eps) = 1e-8;
};

class ReduceLROnPlateau : public Scheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions options = {});
  void step(double metric);
  const ReduceLROnPlateauOptions options;
  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  // and "best" (f64), "num_bad_epochs", "cooldown_counter" (i64)
  std::map<std::string, Tensor> state_dict() const override;

 protected:
  void visit(StateReader& r, bool apply) override;

 private:
  bool better(double a, double best) const;
  double best_;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0;
};

#undef NDGRAD_OPTION

}  // namespace ndgrad::optim
