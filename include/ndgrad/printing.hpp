#pragma once
// How tensors print (NumPy's np.set_printoptions), and shapes printed as tuples.
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "ndgrad/dtype.hpp"

namespace ndgrad {

class Tensor;

// NumPy's defaults. precision: at most this many digits after the point (or after the first
// digit in scientific notation), fewer where fewer tell the value apart (NumPy's "maxprec").
// More than threshold elements: each axis longer than 2 * edgeitems shows its first and last
// edgeitems entries around "...". Lines wrap at linewidth characters. sci_mode: nullopt chooses
// as NumPy does (scientific when a non-zero |value| is >= 1e8 or < 1e-4, or the largest is
// more than 1000 times the smallest); true or false forces it.
struct PrintOptions {
  int64_t precision = 8;
  int64_t threshold = 1000;
  int64_t edgeitems = 3;
  int64_t linewidth = 75;
  std::optional<bool> sci_mode = std::nullopt;
};
// Replaces every option (fields left out of a braced initializer take the defaults above; to
// change one, edit get_printoptions()'s copy). ValueError for a precision outside [0, 64], a
// negative threshold or edgeitems, or a linewidth below 1; the options stay as they were.
// Process-wide (the Python module's ndgrad.set_printoptions sets the same options).
void set_printoptions(const PrintOptions& options);
PrintOptions get_printoptions();

// What operator<<(ostream, Tensor) prints, with dtype_text after "dtype=" and extra (such as
// ", requires_grad=True") before the closing parenthesis: the Python module's repr.
std::string tensor_repr(const Tensor& t, const std::string& dtype_text, const std::string& extra);

// A shape as a tuple: (2, 3), (4,), (). Shape is std::vector<int64_t>, so argument-dependent
// lookup does not find this operator: write `using namespace ndgrad;` (or
// `using ndgrad::operator<<;`) where `std::cout << t.shape()` should print.
std::ostream& operator<<(std::ostream& os, const Shape& shape);

}  // namespace ndgrad
