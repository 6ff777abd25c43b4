#pragma once
// The umbrella header: everything lives in namespace ndgrad.
#include "ndgrad/autograd.hpp"
#include "ndgrad/data.hpp"
#include "ndgrad/dtype.hpp"
#include "ndgrad/error.hpp"
#include "ndgrad/explain.hpp"
#include "ndgrad/io.hpp"
#include "ndgrad/linalg.hpp"
#include "ndgrad/memory.hpp"
#include "ndgrad/nn.hpp"
#include "ndgrad/optim.hpp"
#include "ndgrad/tensor.hpp"
#include "ndgrad/threads.hpp"
