// Links ndgrad::distributed from the installed package; run without mpirun: no Environment,
// one process, and a collective names the missing Environment.
#include <cstdio>
#include <ndgrad/distributed.hpp>
#include <ndgrad/ndgrad.hpp>

int main() {
  namespace dist = ndgrad::distributed;
  if (dist::is_initialized() || dist::world_size() != 1 || dist::rank() != 0) return 1;
  ndgrad::Tensor t = ndgrad::ones({2});
  try {
    dist::all_reduce(t);
    return 1;
  } catch (const dist::DistributedError& e) {
    std::printf("distributed consumer: %s\n", e.what());
  }
  return 0;
}
