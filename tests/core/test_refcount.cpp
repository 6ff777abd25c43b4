// Biased reference counts (ndgrad/ref.hpp): an object is destroyed exactly once, when the
// last reference on any thread goes, whichever thread made it, copied it, released it or has
// exited. Part of the concurrency binary, so that ThreadSanitizer checks the protocol.
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "core/pool.hpp"
#include "test_util.hpp"

using namespace ndgrad;

namespace {

// Counts the live objects of a test.
struct Probe : Counted {
  std::atomic<int>* live;
  int value;
  Probe(std::atomic<int>* l, int v) : live(l), value(v) { live->fetch_add(1); }
  ~Probe() override { live->fetch_sub(1); }
};

}  // namespace

TEST(RefCount, CopiesOnTheOwningThreadKeepTheObjectUntilTheLastGoes) {
  std::atomic<int> live{0};
  {
    Ref<Probe> a = make_ref<Probe>(&live, 1);
    EXPECT_TRUE(a.unique());
    Ref<Probe> b = a;
    Ref<Counted> base = b;  // a base-class reference counts too
    EXPECT_FALSE(a.unique());
    b.reset();
    base = nullptr;
    EXPECT_TRUE(a.unique());
    EXPECT_EQ(live.load(), 1);
  }
  EXPECT_EQ(live.load(), 0);
}

TEST(RefCount, AnotherThreadsReferencesKeepItAliveAfterTheOwnersGo) {
  std::atomic<int> live{0};
  Ref<Probe> a = make_ref<Probe>(&live, 7);
  std::atomic<int> stage{0};
  std::thread other([&] {
    Ref<Probe> held = a, more = held;  // copies on a thread that does not own it
    EXPECT_FALSE(more.unique());
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
    EXPECT_EQ(more->value, 7);  // the owner has dropped its references
    EXPECT_EQ(live.load(), 1);
  });
  while (stage.load() != 1) std::this_thread::yield();
  a.reset();  // the owner's count reaches zero while the other thread holds two
  stage = 2;
  other.join();
  EXPECT_EQ(live.load(), 0);  // merged when the owner let go: the other thread freed it
}

TEST(RefCount, ReleasedBelowZeroElsewhereIsFreedWhenTheOwnerDrains) {
  std::atomic<int> live{0};
  Ref<Probe> a = make_ref<Probe>(&live, 1);
  std::thread other([moved = std::move(a)]() mutable {
    moved.reset();  // the owner's reference, released on another thread: queued to the owner
  });
  other.join();
  EXPECT_EQ(live.load(), 1);  // the owner has not merged yet
  refcount::drain();          // what the library does when this thread allocates a tensor
  EXPECT_EQ(live.load(), 0);
  // And through the library's own path: a tensor handed away and dropped, then an allocation.
  const int64_t owned = refcount::owned_by_this_thread();
  Tensor t = ones({3});
  std::thread([moved = std::move(t)]() mutable { moved = Tensor(); }).join();
  (void)ones({2});
  EXPECT_EQ(refcount::owned_by_this_thread(), owned);
}

TEST(RefCount, ObjectsOfAThreadThatExitedAreFreedWhereTheirLastReferenceGoes) {
  std::atomic<int> live{0};
  std::vector<Ref<Probe>> made;
  std::thread maker([&] {
    for (int i = 0; i < 100; ++i) made.push_back(make_ref<Probe>(&live, i));
    Ref<Probe> extra = made[0];  // the maker's own copies, gone when it exits
  });
  maker.join();
  EXPECT_EQ(live.load(), 100);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(made[i]->value, i);
  Ref<Probe> copy = made[5];
  made.clear();  // released below zero with their owner gone: merged and freed here
  EXPECT_EQ(live.load(), 1);
  copy.reset();
  EXPECT_EQ(live.load(), 0);
}

TEST(RefCount, QueuedObjectsAreFreedWhenTheOwnerExits) {
  std::atomic<int> live{0};
  std::atomic<int> stage{0};
  std::vector<Ref<Probe>> handed;
  std::thread owner([&] {
    for (int i = 0; i < 50; ++i) handed.push_back(make_ref<Probe>(&live, i));
    stage = 1;
    while (stage.load() != 2) std::this_thread::yield();
    // Exits without allocating again: its queue is merged on the way out.
  });
  while (stage.load() != 1) std::this_thread::yield();
  handed.clear();  // below zero: queued to the owner, which is still alive
  stage = 2;
  owner.join();
  EXPECT_EQ(live.load(), 0);
}

TEST(RefCount, TheOwnerReleasingOtherThreadsCopiesWhileQueuedKeepsTheCountExact) {
  std::atomic<int> live{0};
  Ref<Probe> t = make_ref<Probe>(&live, 1);
  Ref<Probe> g = t;
  // A copy made here and released on another thread: the atomic count goes below zero and the
  // object is queued to this thread.
  std::thread([copy = t]() mutable { copy.reset(); }).join();
  // Copies made on another thread, handed back and released here while it is queued: this
  // thread's own count goes below zero.
  std::vector<Ref<Probe>> from_other;
  std::thread([&] {
    from_other.push_back(g);
    from_other.push_back(g);
  }).join();
  t.reset();
  g.reset();
  from_other.clear();
  EXPECT_EQ(live.load(), 1);  // queued: merged when this thread drains
  refcount::drain();
  EXPECT_EQ(live.load(), 0);
}

TEST(RefCount, OwnerAndAnotherThreadDroppingTheLastTwoReferencesAtOnce) {
  // The owner's last reference and another thread's go at the same moment, many times: the
  // object is destroyed exactly once and never touched afterwards (the sanitizer builds check
  // the memory).
  std::atomic<int> live{0};
  for (int round = 0; round < 300; ++round) {
    Ref<Probe> mine = make_ref<Probe>(&live, round);
    std::atomic<int> ready{0};
    std::thread other([&, theirs = Ref<Probe>()]() mutable {
      theirs = mine;  // a reference counted by this thread
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      theirs.reset();
    });
    while (ready.load() < 1) std::this_thread::yield();
    ready.fetch_add(1);
    mine.reset();
    other.join();
    EXPECT_EQ(live.load(), 0) << "round " << round;
  }
}

TEST(RefCount, ManyThreadsCopyingAndReleasingDestroyEachObjectOnce) {
  // Objects made on several threads; every thread copies and drops references to all of them
  // in random orders, some threads exit early. Each object must be destroyed exactly once
  // (ThreadSanitizer and the sanitizer build check the memory), and only at the end.
  constexpr int kThreads = 4, kObjects = 64, kRounds = 20000;
  std::atomic<int> live{0};
  std::vector<Ref<Probe>> shared(kObjects);
  std::vector<std::thread> makers;
  for (int t = 0; t < kThreads; ++t)
    makers.emplace_back([&, t] {
      for (int i = t; i < kObjects; i += kThreads) shared[i] = make_ref<Probe>(&live, i);
    });
  for (auto& th : makers) th.join();
  std::vector<std::thread> users;
  for (int t = 0; t < kThreads; ++t)
    users.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<Ref<Probe>> mine;
      for (int r = 0; r < kRounds; ++r) {
        const int i = static_cast<int>(rng() % kObjects);
        if (rng() % 2 || mine.empty()) {
          mine.push_back(shared[i]);  // shared is only read while the users run
          EXPECT_EQ(mine.back()->value, i);
        } else {
          std::swap(mine[rng() % mine.size()], mine.back());
          mine.pop_back();
        }
        if (r % 97 == 0) (void)make_ref<Probe>(&live, -1);  // and objects of its own
      }
    });
  for (auto& th : users) th.join();
  EXPECT_EQ(live.load(), kObjects);
  shared.clear();
  EXPECT_EQ(live.load(), 0);
}

TEST(RefCount, AMillionNodeGraphMadeOnAThreadThatExitedIsFreedWithoutRecursion) {
  // The last reference to a long chain of nodes goes on a thread that does not own them, after
  // their owner exited: the chain is still taken apart iteratively.
  Tensor y;
  std::thread builder([&] {
    Tensor x = scalar(0.5, DType::f64).requires_grad_();
    Tensor z = x;
    for (int i = 0; i < 1000000; ++i) z = z * 1.0000001 + 1e-9;
    y = z;
  });
  builder.join();
  EXPECT_STREQ(y.grad_fn_name(), "add");
  y = Tensor();
  // And one made here and released on another thread while this one lives: queued, then
  // taken apart here when this thread next allocates.
  Tensor x = scalar(0.5, DType::f64).requires_grad_();
  Tensor z = x;
  for (int i = 0; i < 1000000; ++i) z = z * 1.0000001 + 1e-9;
  std::thread([moved = std::move(z)]() mutable { moved = Tensor(); }).join();
  x = ones({1});
}
