// ndgrad::distributed on MPI: the environment, a watchdog that turns a collective that never
// completes into a clear stop, the collectives on tensors, and checking mode's handshake.
#include "ndgrad/distributed.hpp"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor_impl.hpp"
#include "distributed/mpi_util.hpp"
#include "ndgrad/autograd.hpp"
#include "ndgrad/checkpoint.hpp"
#include "ndgrad/threads.hpp"

namespace ndgrad::distributed {

namespace detail {

State* state = nullptr;

namespace {

double env_double(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (*end != '\0' || !(d >= 0))
    throw DistributedError(std::string("Environment: ") + name + "='" + v +
                           "' is not a number of seconds >= 0");
  return d;
}

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strcmp(v, "0") != 0;
}

// Waits for the collective in flight; past its deadline, says which one did not complete and
// stops every rank.
void watchdog_loop(State* s) {
  std::unique_lock<std::mutex> lock(s->watch_mutex);
  while (!s->watch_stop) {
    if (!s->watch_active) {
      s->watch_cv.wait(lock);
      continue;
    }
    const uint64_t seq = s->watch_seq;
    if (s->watch_cv.wait_until(lock, s->watch_deadline, [&] {
          return s->watch_stop || !s->watch_active || s->watch_seq != seq;
        }))
      continue;
    std::fprintf(stderr,
                 "ndgrad::distributed: rank %d of %d: %s did not complete within %g s: another "
                 "rank failed, exited or is not calling it (every rank must call the same "
                 "collectives in the same order). Stopping every rank.\n",
                 s->rank, s->world, s->watch_what.c_str(), s->options.timeout_seconds);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3);
    std::_Exit(3);
  }
}

}  // namespace

Watch::Watch(const char* op, const Tensor* t, const char* detail_text) {
  State& s = require("collective");
  if (!(s.options.timeout_seconds > 0)) return;
  std::string what = op;
  if (t && t->defined())
    what += std::string(" of ") + dtype_name(t->dtype()) + " " + shape_str(t->shape());
  if (detail_text) what += std::string(" ") + detail_text;
  std::lock_guard<std::mutex> lock(s.watch_mutex);
  ++s.watch_seq;
  s.watch_active = true;
  s.watch_what = std::move(what);
  s.watch_deadline = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(s.options.timeout_seconds));
  armed_ = true;
  s.watch_cv.notify_one();
}

Watch::~Watch() {
  if (!armed_ || !state) return;
  std::lock_guard<std::mutex> lock(state->watch_mutex);
  state->watch_active = false;
  state->watch_cv.notify_one();
}

State& require(const char* op) {
  if (!state)
    throw DistributedError(std::string(op) +
                           ": no distributed::Environment is alive (create one first, and start "
                           "the program with mpirun)");
  return *state;
}

void check_mpi(int code, const char* op) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  if (state) state->failed = true;
  throw DistributedError(std::string(op) + ": MPI failed: " + std::string(text, size_t(len)));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return MPI_FLOAT;
    case DType::f64:
      return MPI_DOUBLE;
    case DType::i64:
      return MPI_INT64_T;
    case DType::i32:
      return MPI_INT32_T;
    case DType::u8:
      return MPI_UINT8_T;
    case DType::i8:
      return MPI_INT8_T;
    case DType::boolean:
      return MPI_C_BOOL;
    default:
      return MPI_DATATYPE_NULL;  // f16, bf16: reduced in f32
  }
}

MPI_Op mpi_op(ReduceOp op, DType dtype) {
  if (dtype == DType::boolean) return op == ReduceOp::min ? MPI_LAND : MPI_LOR;
  switch (op) {
    case ReduceOp::max:
      return MPI_MAX;
    case ReduceOp::min:
      return MPI_MIN;
    default:
      return MPI_SUM;  // mean: the sum, divided after
  }
}

void handshake(const char* op, const Tensor& t, int64_t code) {
  State& s = require(op);
  if (!s.options.check || s.world == 1) return;
  constexpr int kSlots = 12, kDims = 8;
  int64_t mine[kSlots] = {};
  mine[0] = code;
  mine[1] = t.defined() ? static_cast<int64_t>(t.dtype()) : -1;
  mine[2] = t.defined() ? t.ndim() : -1;
  const Shape shape = t.defined() ? t.shape() : Shape{};
  for (int i = 0; i < int(shape.size()) && i < kDims; ++i) mine[3 + i] = shape[size_t(i)];
  int64_t tail = 0;  // the axes past kDims, hashed
  for (size_t i = kDims; i < shape.size(); ++i) tail = tail * 1000003 + shape[i];
  mine[kSlots - 1] = tail;
  std::vector<int64_t> all(size_t(kSlots) * size_t(s.world));
  {
    Watch watch(op, &t, "(checking mode's handshake)");
    check_mpi(
        MPI_Allgather(mine, kSlots, MPI_INT64_T, all.data(), kSlots, MPI_INT64_T, MPI_COMM_WORLD),
        op);
  }
  bool same = true;
  for (int r = 1; r < s.world; ++r)
    same = same && std::equal(all.begin(), all.begin() + kSlots, all.begin() + r * kSlots);
  if (same) return;
  std::string text = std::string(op) + ": the ranks disagree:";
  for (int r = 0; r < s.world; ++r) {
    const int64_t* d = all.data() + size_t(r) * kSlots;
    text += std::string(r ? ";" : "") + " rank " + std::to_string(r) + " passes ";
    if (d[1] < 0) {
      text += "no tensor";
    } else {
      Shape sh;
      for (int64_t i = 0; i < d[2] && i < kDims; ++i) sh.push_back(d[3 + i]);
      text += std::string(dtype_name(static_cast<DType>(d[1]))) + " " + shape_str(sh);
      if (d[2] > kDims) text += " (and more axes)";
    }
    if (d[0] != mine[0]) text += " (another call: code " + std::to_string(d[0]) + ")";
  }
  throw DistributedError(text);
}

}  // namespace detail

using detail::check_mpi;
using detail::require;
using detail::State;
using detail::Watch;

// ---- the environment ----

Environment::Environment(int* argc, char*** argv, Options options) {
  if (detail::state)
    throw DistributedError("Environment: one is alive already (one at a time in a process)");
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized)
    throw DistributedError(
        "Environment: MPI was finalized already in this process (MPI "
        "cannot start twice)");
  options.timeout_seconds =
      detail::env_double("NDGRAD_DISTRIBUTED_TIMEOUT", options.timeout_seconds);
  options.check = detail::env_flag("NDGRAD_DISTRIBUTED_CHECK", options.check);
  auto s = std::make_unique<State>();
  s->owns_mpi = !initialized;
  if (!initialized) {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &s->thread_level) != MPI_SUCCESS)
      throw DistributedError("Environment: MPI_Init_thread failed");
  } else {
    MPI_Query_thread(&s->thread_level);
  }
  // Errors come back as codes (DistributedError), not as MPI's abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &s->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s->world);
  s->options = options;
  // Ranks on one machine share its cores: each gets its share for ndgrad's threads.
  MPI_Comm local;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, s->rank, MPI_INFO_NULL, &local) ==
      MPI_SUCCESS) {
    MPI_Comm_size(local, &s->local_size);
    MPI_Comm_free(&local);
  }
  if (options.num_threads > 0) {
    set_num_threads(options.num_threads);
  } else if (s->local_size > 1) {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    set_num_threads(std::max(1, cores / s->local_size));
  }
  if (s->world > 1) s->watchdog = std::thread(detail::watchdog_loop, s.get());
  detail::state = s.release();
  set_process_rank(detail::state->rank);
}

Environment::~Environment() {
  State* s = detail::state;
  if (!s) return;
  {
    std::lock_guard<std::mutex> lock(s->watch_mutex);
    s->watch_stop = true;
    s->watch_cv.notify_one();
  }
  if (s->watchdog.joinable()) s->watchdog.join();
  if (std::uncaught_exceptions() > 0 && s->world > 1) {
    // Leaving on an exception: the others may be waiting in a collective this rank will never
    // join, and MPI cannot be finalized with them there.
    std::fprintf(stderr,
                 "ndgrad::distributed: rank %d of %d is leaving on an exception%s. Stopping every "
                 "rank.\n",
                 s->rank, s->world, s->failed ? " after a failed collective" : "");
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  set_process_rank(0);
  detail::state = nullptr;
  const bool owns = s->owns_mpi;
  delete s;
  if (owns) MPI_Finalize();
}

int Environment::rank() const { return detail::state->rank; }
int Environment::world_size() const { return detail::state->world; }
std::string Environment::processor_name() const {
  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  return std::string(name, size_t(len));
}

bool is_initialized() { return detail::state != nullptr; }
int rank() { return detail::state ? detail::state->rank : 0; }
int world_size() { return detail::state ? detail::state->world : 1; }

const Options& options() {
  static const Options defaults;
  return detail::state ? detail::state->options : defaults;
}
void set_options(const Options& o) {
  State& s = require("set_options");
  if (!(o.timeout_seconds >= 0))
    throw ValueError("set_options: timeout_seconds must be >= 0, got " +
                     std::to_string(o.timeout_seconds));
  s.options = o;
}

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return "sum";
    case ReduceOp::mean:
      return "mean";
    case ReduceOp::max:
      return "max";
    default:
      return "min";
  }
}

// ---- collectives ----

namespace {

constexpr int64_t kChunk = int64_t{1} << 30;  // elements per MPI call (counts are int)

// Writes are version-counted as copy_'s: refused on a tensor that requires grad in grad mode.
void require_writable(const Tensor& t, const char* op) {
  require_defined_arg(t, op, "the tensor");
  const Shape shape = t.shape(), strides = t.strides();
  for (size_t i = 0; i < shape.size(); ++i)
    if (strides[i] == 0 && shape[i] > 1)
      throw ValueError(std::string(op) + ": the tensor (shape " + shape_str(shape) + ", strides " +
                       shape_str(strides) +
                       ") is a broadcast view whose elements share memory; pass a tensor of its "
                       "own (contiguous())");
  if (t.requires_grad() && is_grad_enabled())
    throw AutogradError(std::string(op) +
                        ": in-place write into a tensor that requires grad while grad mode is "
                        "on; wrap it in a NoGradGuard");
}

void bump(const Tensor& t) { t.impl()->storage->bump_version(); }

// t's values as a contiguous tensor of dtype (t itself when it is one already).
Tensor as_contiguous(const Tensor& t, DType dtype) {
  return (t.dtype() == dtype ? t : t.to(dtype)).contiguous();
}

void* raw(const Tensor& t) { return t.impl()->data(); }

int64_t op_code(const char* name, int64_t extra) {
  int64_t h = 0;
  for (const char* p = name; *p; ++p) h = h * 31 + *p;
  return h * 16 + extra;
}

}  // namespace

void all_reduce(Tensor& t, ReduceOp op) {
  const char* name = "all_reduce";
  State& s = require(name);
  require_writable(t, name);
  if (op == ReduceOp::mean && !is_floating(t.dtype()))
    throw DTypeError(std::string("all_reduce: mean needs a floating dtype, got ") +
                     dtype_name(t.dtype()));
  detail::handshake(name, t, op_code(name, int64_t(op)));
  // f16/bf16: reduced in f32, rounded once.
  const DType work = detail::reduction_dtype(t.dtype());
  Tensor buf = as_contiguous(t, work);
  const bool in_place = buf.impl()->storage == t.impl()->storage;
  const int64_t n = buf.numel(), item = itemsize(work);
  if (s.world > 1 && n > 0) {
    Watch watch(name, &t, reduce_op_name(op));
    std::unique_lock<std::mutex> lock = s.mpi_lock();
    char* p = static_cast<char*>(raw(buf));
    for (int64_t at = 0; at < n; at += kChunk) {
      const int count = int(std::min(kChunk, n - at));
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, p + at * item, count, detail::mpi_type(work),
                              detail::mpi_op(op, work), MPI_COMM_WORLD),
                name);
    }
  }
  if (op == ReduceOp::mean && s.world > 1) {
    NoGradGuard no_grad;
    buf = buf / double(s.world);
    t.copy_(buf);
  } else if (!in_place) {
    NoGradGuard no_grad;
    t.copy_(buf);
  } else {
    bump(t);
  }
}

void broadcast(Tensor& t, int root) {
  const char* name = "broadcast";
  State& s = require(name);
  require_writable(t, name);
  if (root < 0 || root >= s.world)
    throw ValueError("broadcast: root " + std::to_string(root) + " is not a rank of " +
                     std::to_string(s.world));
  detail::handshake(name, t, op_code(name, root));
  Tensor buf = t.contiguous();
  const bool in_place = buf.impl()->storage == t.impl()->storage;
  const int64_t bytes = buf.numel() * itemsize(buf.dtype());
  if (s.world > 1 && bytes > 0) {
    Watch watch(name, &t, nullptr);
    std::unique_lock<std::mutex> lock = s.mpi_lock();
    char* p = static_cast<char*>(raw(buf));
    for (int64_t at = 0; at < bytes; at += kChunk)
      check_mpi(
          MPI_Bcast(p + at, int(std::min(kChunk, bytes - at)), MPI_BYTE, root, MPI_COMM_WORLD),
          name);
  }
  if (!in_place) {
    NoGradGuard no_grad;
    t.copy_(buf);
  } else {
    bump(t);
  }
}

Tensor all_gather(const Tensor& t) {
  const char* name = "all_gather";
  State& s = require(name);
  require_defined_arg(t, name, "the tensor");
  detail::handshake(name, t, op_code(name, 0));
  const Tensor src = t.detach().contiguous();
  Shape shape = t.shape();
  shape.insert(shape.begin(), s.world);
  Tensor out = empty(shape, t.dtype());
  const int64_t bytes = src.numel() * itemsize(src.dtype());
  if (bytes > std::numeric_limits<int>::max())
    throw ValueError("all_gather: " + std::to_string(bytes) +
                     " bytes a rank is more than one MPI call takes (2^31 - 1)");
  if (bytes > 0) {
    Watch watch(name, &t, nullptr);
    std::unique_lock<std::mutex> lock = s.mpi_lock();
    check_mpi(MPI_Allgather(raw(src), int(bytes), MPI_BYTE, raw(out), int(bytes), MPI_BYTE,
                            MPI_COMM_WORLD),
              name);
  }
  return out;
}

Tensor reduce_scatter(const Tensor& t, ReduceOp op) {
  const char* name = "reduce_scatter";
  State& s = require(name);
  require_defined_arg(t, name, "the tensor");
  if (t.ndim() == 0 || t.size(0) % s.world != 0)
    throw ShapeError("reduce_scatter: the first axis of a tensor of shape " + shape_str(t.shape()) +
                     " must split into " + std::to_string(s.world) + " equal blocks (one a rank)");
  if (op == ReduceOp::mean && !is_floating(t.dtype()))
    throw DTypeError(std::string("reduce_scatter: mean needs a floating dtype, got ") +
                     dtype_name(t.dtype()));
  detail::handshake(name, t, op_code(name, int64_t(op)));
  const DType work = detail::reduction_dtype(t.dtype());
  const Tensor src = as_contiguous(t.detach(), work);
  Shape shape = t.shape();
  shape[0] /= s.world;
  Tensor out = empty(shape, work);
  const int64_t block = out.numel();
  if (block > std::numeric_limits<int>::max())
    throw ValueError("reduce_scatter: " + std::to_string(block) +
                     " elements a rank is more than one MPI call takes (2^31 - 1)");
  if (block > 0) {
    Watch watch(name, &t, reduce_op_name(op));
    std::unique_lock<std::mutex> lock = s.mpi_lock();
    check_mpi(MPI_Reduce_scatter_block(raw(src), raw(out), int(block), detail::mpi_type(work),
                                       detail::mpi_op(op, work), MPI_COMM_WORLD),
              name);
  }
  NoGradGuard no_grad;
  if (op == ReduceOp::mean) out = out / double(s.world);
  return out.dtype() == t.dtype() ? out : out.to(t.dtype());
}

void barrier() {
  State& s = require("barrier");
  detail::handshake("barrier", Tensor(), op_code("barrier", 0));
  Watch watch("barrier", nullptr, nullptr);
  std::unique_lock<std::mutex> lock = s.mpi_lock();
  check_mpi(MPI_Barrier(MPI_COMM_WORLD), "barrier");
}

}  // namespace ndgrad::distributed
