#pragma once
// Every error ndgrad throws derives from ndgrad::Error, so callers can catch one type.
#include <stdexcept>
#include <string>

namespace ndgrad {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Incompatible shapes: broadcasting, matmul, reshape, squeeze.
class ShapeError : public Error {
 public:
  using Error::Error;
};
// An index outside its axis, too many indices, two ellipses.
class IndexError : public Error {
 public:
  using Error::Error;
};
// An axis outside [-ndim, ndim) or given twice.
class AxisError : public Error {
 public:
  using Error::Error;
};
// Misuse of the autograd engine.
class AutogradError : public Error {
 public:
  using Error::Error;
};
// An operation applied to a dtype it does not support.
class DTypeError : public Error {
 public:
  using Error::Error;
};
// File loading and saving.
class IOError : public Error {
 public:
  using Error::Error;
};
// A bad argument value (negative size, eps <= 0, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};
// A linear-algebra op given a matrix it cannot factor (singular, not positive definite); the
// message names the op and the batch element.
class LinAlgError : public Error {
 public:
  using Error::Error;
};
// A tensor whose storage could not be allocated.
class MemoryError : public Error {
 public:
  using Error::Error;
};

}  // namespace ndgrad
