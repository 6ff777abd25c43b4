#pragma once

#include "ndgrad/autograd.hpp"  // is_grad_enabled

namespace ndgrad {

void set_grad_enabled(bool on);

namespace detail {
// The calling thread's grad mode (is_grad_enabled()), readable inline by the layers above: every
// op reads it. __thread, not thread_local: a constant-initialized variable, read without the
// call C++ makes through a thread_local's wrapper.
extern __thread bool grad_enabled;
}  // namespace detail
inline bool grad_enabled_here() { return detail::grad_enabled; }

// Sets grad mode for a scope and restores the previous one.
class GradModeScope {
 public:
  explicit GradModeScope(bool on) : previous_(is_grad_enabled()) { set_grad_enabled(on); }
  ~GradModeScope() { set_grad_enabled(previous_); }
  GradModeScope(const GradModeScope&) = delete;
  GradModeScope& operator=(const GradModeScope&) = delete;

 private:
  bool previous_;
};

}  // namespace ndgrad
