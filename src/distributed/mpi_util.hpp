#pragma once
// What the distributed library's sources share: the environment's state, the watchdog's guard,
// MPI error checks and the dtype and op mappings. Includes mpi.h: never a public header.
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "ndgrad/distributed.hpp"

namespace ndgrad::distributed::detail {

struct State {
  bool owns_mpi = false;
  int thread_level = MPI_THREAD_SINGLE;
  int rank = 0, world = 1, local_size = 1;
  Options options;
  bool failed = false;  // a collective failed: MPI cannot be finalized cleanly

  // MPI calls from several threads go one at a time unless MPI is thread-safe.
  std::mutex mpi_mutex;
  std::unique_lock<std::mutex> mpi_lock() {
    return thread_level >= MPI_THREAD_MULTIPLE ? std::unique_lock<std::mutex>()
                                               : std::unique_lock<std::mutex>(mpi_mutex);
  }

  // The watchdog: the collective in flight and its deadline.
  std::thread watchdog;
  std::mutex watch_mutex;
  std::condition_variable watch_cv;
  bool watch_stop = false, watch_active = false;
  uint64_t watch_seq = 0;
  std::string watch_what;
  std::chrono::steady_clock::time_point watch_deadline;
};

extern State* state;

// The environment's state, or a DistributedError naming op when no Environment is alive.
State& require(const char* op);
// A DistributedError naming op with MPI's message, unless code is MPI_SUCCESS.
void check_mpi(int code, const char* op);
MPI_Datatype mpi_type(DType dtype);  // MPI_DATATYPE_NULL for f16 and bf16
// The dtype a reduction runs in: f16 and bf16 in f32 (MPI has no arithmetic on them), rounded
// back once; every other dtype as it is.
inline DType reduction_dtype(DType d) {
  return d == DType::f16 || d == DType::bf16 ? DType::f32 : d;
}
MPI_Op mpi_op(ReduceOp op, DType dtype);
// Checking mode: every rank's op code, dtype and shape compared (one all-gather); a difference
// is a DistributedError on every rank naming each rank's tensor. Nothing when checking is off.
void handshake(const char* op, const Tensor& t, int64_t code);

// While alive, the watchdog stops the job if this collective has not completed by the timeout;
// what it prints names op, the tensor and detail.
class Watch {
 public:
  Watch(const char* op, const Tensor* t, const char* detail);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

 private:
  bool armed_ = false;
};

}  // namespace ndgrad::distributed::detail
