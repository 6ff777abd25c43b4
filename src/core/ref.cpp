// The slow paths of biased reference counting (ndgrad/ref.hpp): merging the owner's count into
// the atomic one, queueing objects to their owner, and thread records.
#include "ndgrad/ref.hpp"

#include <new>

#include "core/pool.hpp"
#include "core/tensor_impl.hpp"

namespace ndgrad::refcount {

namespace {

int64_t count_of(int64_t shared) { return shared >> 2; }  // arithmetic: negative counts too
int64_t state_of(int64_t shared) { return shared & 3; }

// Set once this thread's record has been given up (it is exiting): later objects start merged.
thread_local bool exited = false;

}  // namespace

struct Access {
  // Makes the atomic count the whole count (the owner's references added in) and gives up
  // ownership; true when no reference is left. The caller is the owner, or any thread once
  // the owner has exited (then under the record's lock, so that the owner's count is settled).
  static bool merge(Counted* c) {
    const int64_t local = c->local_;
    c->local_ = 0;
    // Ownership goes first: once the merged count is published, another thread may free the
    // object at any moment.
    c->owner_.store(&shared_owner, std::memory_order_relaxed);
    int64_t s = c->shared_.load(std::memory_order_relaxed);
    int64_t total;
    do {
      total = local + count_of(s);
    } while (!c->shared_.compare_exchange_weak(s, total * kOne | kMerged, std::memory_order_acq_rel,
                                               std::memory_order_relaxed));
    return total == 0;
  }

  static void destroy(Counted* c) {
    const size_t bytes = c->alloc_bytes_;
    switch (static_cast<Counted::Kind>(c->kind_)) {
      case Counted::Kind::tensor:
        static_cast<TensorImpl*>(c)->TensorImpl::~TensorImpl();
        break;
      case Counted::Kind::storage:
        static_cast<Storage*>(c)->Storage::~Storage();
        break;
      default:
        c->~Counted();
    }
    pool::deallocate(c, bytes);
  }

  static bool drop_local_zero(Counted* c) {
    OwnerThread* me = this_thread;
    int64_t s = c->shared_.load(std::memory_order_acquire);
    // Queued (another thread's releases went below zero): merged when the queue is drained.
    if (state_of(s) != kOwned) return false;
    // Other threads hold references: the atomic count becomes the whole count. Ownership goes
    // first (once merged, another thread may free the object at any moment); with the owner's
    // count at zero no release can take the atomic count below zero, so it stays kOwned.
    c->owner_.store(&shared_owner, std::memory_order_relaxed);
    --me->owned;
    while (!c->shared_.compare_exchange_weak(
        s, (s & ~int64_t(3)) | kMerged, std::memory_order_acq_rel, std::memory_order_acquire)) {
    }
    return count_of(s) == 0;
  }

  static bool drop_shared(Counted* c) {
    int64_t s = c->shared_.load(std::memory_order_relaxed);
    bool to_queue;
    for (;;) {
      to_queue = state_of(s) == kOwned && count_of(s) == 0;
      const int64_t next = to_queue ? (-kOne | kQueued) : s - kOne;
      if (c->shared_.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
        if (state_of(s) == kMerged) return count_of(next) == 0;
        break;
      }
    }
    if (!to_queue) return false;
    // This release took the count below zero: the owner holds the references it is missing,
    // so the owner must merge. Queued while it lives; merged here once it has exited.
    OwnerThread* rec = c->owner_.load(std::memory_order_acquire);
    bool last, done;
    {
      std::lock_guard<std::mutex> lock(rec->mu);
      if (rec->alive) {
        c->queued_next_ = rec->queue;
        rec->queue = c;
        rec->has_queue.store(true, std::memory_order_release);
        return false;
      }
      last = merge(c);
      done = --rec->owned == 0;
    }
    if (done) delete rec;
    return last;
  }

  // Merges what other threads queued to this thread.
  static void drain(OwnerThread* me) {
    Counted* c;
    {
      std::lock_guard<std::mutex> lock(me->mu);
      c = me->queue;
      me->queue = nullptr;
      me->has_queue.store(false, std::memory_order_relaxed);
    }
    while (c) {
      Counted* next = c->queued_next_;
      c->queued_next_ = nullptr;
      --me->owned;
      if (merge(c)) destroy(c);
      c = next;
    }
  }
};

void destroy(Counted* c) noexcept { Access::destroy(c); }
bool drop_local_zero(Counted* c) noexcept { return Access::drop_local_zero(c); }
bool drop_shared(Counted* c) noexcept { return Access::drop_shared(c); }

void drain() noexcept {
  if (OwnerThread* me = this_thread) Access::drain(me);
}

int64_t owned_by_this_thread() noexcept {
  drain();
  return this_thread ? this_thread->owned : 0;
}

namespace {

// Gives up this thread's record when the thread exits: what was queued is merged; objects it
// still owns are merged by whichever thread next takes their count below zero; the record is
// freed with the last of them.
struct Exit {
  ~Exit() {
    OwnerThread* me = this_thread;
    if (!me) return;
    bool done;
    for (;;) {
      Access::drain(me);
      std::lock_guard<std::mutex> lock(me->mu);
      if (me->queue) continue;
      me->alive = false;
      done = me->owned == 0;
      break;
    }
    this_thread = nullptr;
    exited = true;
    if (done) delete me;
  }
};

}  // namespace

OwnerThread* attach_thread() noexcept {
  if (exited) return &shared_owner;
  auto* rec = new (std::nothrow) OwnerThread;
  if (!rec) return &shared_owner;
  static thread_local Exit exit;  // its destructor runs when this thread exits
  (void)exit;
  this_thread = rec;
  return rec;
}

}  // namespace ndgrad::refcount
