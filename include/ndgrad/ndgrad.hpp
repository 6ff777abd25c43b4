#pragma once
// The umbrella header: everything lives in namespace ndgrad.
#include "ndgrad/autograd.hpp"
#include "ndgrad/dtype.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/tensor.hpp"
