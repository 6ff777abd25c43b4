#include "graph/grad_mode.hpp"

#include "ndgrad/autograd.hpp"

namespace ndgrad {

namespace detail {
__thread bool grad_enabled = true;
}  // namespace detail
using detail::grad_enabled;

bool is_grad_enabled() { return grad_enabled; }
void set_grad_enabled(bool on) { grad_enabled = on; }

NoGradGuard::NoGradGuard() : previous_(grad_enabled) { grad_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_enabled = previous_; }
AutoGradMode::AutoGradMode(bool enabled) : previous_(grad_enabled) { grad_enabled = enabled; }
AutoGradMode::~AutoGradMode() { grad_enabled = previous_; }

}  // namespace ndgrad
