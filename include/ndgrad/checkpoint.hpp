#pragma once
// Resumable training: one .npz file with a model's parameters and buffers, its optimizer's and
// schedule's state, the random generators' positions and the loop's counters, written whole
// or not at all. Loading it into freshly made objects and going on gives the same bits as a run
// that never stopped.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ndgrad/nn.hpp"
#include "ndgrad/optim.hpp"
#include "ndgrad/random.hpp"

namespace ndgrad {

// What a checkpoint holds; any pointer may be null: that part is not saved, and loading skips
// it (a training checkpoint loads into a model alone, for evaluation). The parts named must all
// be in the file.
struct TrainingState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  optim::Scheduler* scheduler = nullptr;
  // Generators beside the model's own (its named_generators(), saved always) and the default
  // generator (saved always): a data loader's shuffling, augmentation.
  std::vector<std::pair<std::string, Generator*>> generators;
  int64_t epoch = 0, step = 0;
  // Anything else the loop keeps (metrics so far), saved and restored as they are.
  std::map<std::string, Tensor> extra;
  // In a distributed job only rank 0 writes (every rank holds the same model): save_checkpoint
  // on another rank returns without writing, unless this is true.
  bool every_rank = false;
};

// This process's rank in a distributed job, for save_checkpoint (distributed::Environment sets
// it while it lives; 0 otherwise).
void set_process_rank(int rank);
int process_rank();

// Entries: "checkpoint_version" (1), "epoch", "step", "model.NAME", "optimizer.KEY",
// "scheduler.KEY" (their state_dict()s), "rng.default", "rng.model.NAME", "rng.NAME" (a
// generator's seed and position, i64 (2), the bits of two uint64), "extra.KEY".
void save_checkpoint(const std::string& path, const TrainingState& state);
// Checks every entry against the objects given first (another model's checkpoint, or another
// optimizer's, is a ValueError naming the entry; a truncated or corrupt file an IOError) and
// changes nothing then; restores them all after.
void load_checkpoint(const std::string& path, TrainingState& state);

}  // namespace ndgrad
