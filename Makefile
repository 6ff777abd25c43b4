# make test  : installs missing Debian packages (as root), builds (Release, -j2), runs ctest
# make demo  : installs the Fashion-MNIST data set, builds, trains the MLP on it
# make demo-distributed: the same, data-parallel on 2 MPI ranks (RANKS=N for another count)
# make test-reference: the whole suite again on the plain reference paths (NDGRAD_REFERENCE_KERNELS)
# make test-sanitize, make test-tsan, make fuzz [FUZZ_SECONDS=60]: the reliability checks
# make bench : the benchmarks (bench/NOTES.md explains them)
SHELL := /bin/bash
# ccache: relative paths, so a fresh clone elsewhere still hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

BUILD_DIR ?= build
JOBS ?= 2
CMAKE_ARGS ?=

.PHONY: all deps configure build test test-reference demo demo-cnn demo-distributed walkthrough install clean test-sanitize test-tsan fuzz fuzz-build bench

CCACHE_LAUNCHER = $$(command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# Tests that build other projects or load uninstrumented libtorch are left to `make test`.
SANITIZE_EXCLUDE = consumer|VsTorch
FUZZ_SECONDS ?= 60
# FUZZ_RUNS=N: a fixed number of runs from a fixed seed instead, reproducible (CI uses it).
FUZZ_RUNS ?=
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS) -seed=1,-max_total_time=$(FUZZ_SECONDS))

all: build

deps:
	@bash tools/install_deps.sh

configure: deps
	@launcher=""; command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"; \
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $$launcher $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# The same binaries on the reference paths (no lazy fusion, own GEMM or vectorized
# transcendentals): the optimized paths must keep the semantics those define.
test-reference: build
	cd $(BUILD_DIR) && NDGRAD_REFERENCE_KERNELS=1 ctest --output-on-failure -j$(JOBS) -E consumer

# The main job: train the MLP on Fashion-MNIST (Debian's dataset-fashion-mnist).
demo:
	@NDGRAD_EXTRA_PACKAGES=dataset-fashion-mnist bash tools/install_deps.sh
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/examples/fashion_mnist --out $(BUILD_DIR)/fashion_mnist

# The convolutional network on Fashion-MNIST (examples/fashion_mnist.cpp --model cnn).
demo-cnn:
	@NDGRAD_EXTRA_PACKAGES=dataset-fashion-mnist bash tools/install_deps.sh
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/examples/fashion_mnist --model cnn --out $(BUILD_DIR)/fashion_mnist_cnn

# The MLP trained data-parallel: RANKS processes under mpirun (docs/DISTRIBUTED.md), each a
# shard of every global batch (128 a rank), gradients averaged by ndgrad::distributed.
RANKS ?= 2
demo-distributed:
	@NDGRAD_EXTRA_PACKAGES=dataset-fashion-mnist bash tools/install_deps.sh
	@$(MAKE) --no-print-directory build
	OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -np $(RANKS) \
	  ./$(BUILD_DIR)/examples/fashion_mnist --distributed --out $(BUILD_DIR)/fashion_mnist_distributed

# The founding examples walked through: shapes, values, gradients, a Jacobian, a gradcheck.
walkthrough: build
	./$(BUILD_DIR)/examples/founding_walkthrough

# Every test under AddressSanitizer + UndefinedBehaviorSanitizer, LeakSanitizer on.
test-sanitize: deps
	cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNDGRAD_SANITIZE=ON \
	  -DNDGRAD_DISTRIBUTED=OFF $(CCACHE_LAUNCHER)
	cmake --build build-sanitize -j$(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -E '$(SANITIZE_EXCLUDE)'

# The concurrency tests under ThreadSanitizer (portable GEMM: OpenBLAS is not instrumented).
test-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNDGRAD_SANITIZE_THREAD=ON \
	  -DNDGRAD_USE_BLAS=OFF -DNDGRAD_BUILD_EXAMPLES=OFF -DNDGRAD_BUILD_TOOLS=OFF $(CCACHE_LAUNCHER)
	cmake --build build-tsan -j$(JOBS) --target ndgrad_concurrency_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ./build-tsan/tests/ndgrad_concurrency_tests

# libFuzzer (clang): each target for FUZZ_SECONDS, starting from the saved corpus.
fuzz-build:
	@NDGRAD_EXTRA_PACKAGES="clang libclang-rt-14-dev" bash tools/install_deps.sh
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNDGRAD_FUZZ=ON \
	  -DNDGRAD_BUILD_EXAMPLES=OFF -DNDGRAD_BUILD_TOOLS=OFF $(CCACHE_LAUNCHER)
	cmake --build build-fuzz -j$(JOBS) --target fuzz_ops fuzz_npy fuzz_idx

fuzz: fuzz-build
	@for t in ops npy idx; do \
	  $(if $(FUZZ_RUNS),rm -rf build-fuzz/corpus/$$t &&) mkdir -p build-fuzz/corpus/$$t && \
	  echo "fuzzing $$t ($(FUZZ_LIMIT))" && \
	  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	  ./build-fuzz/fuzz/fuzz_$$t $(FUZZ_LIMIT) -rss_limit_mb=2048 -timeout=10 \
	    -print_final_stats=0 -artifact_prefix=build-fuzz/ build-fuzz/corpus/$$t fuzz/corpus/$$t \
	    2>&1 | grep -E "^Done [0-9]+ runs|ERROR|SUMMARY|Test unit written" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# The benchmarks: machine limits, kernel microbenchmarks, and ndgrad against libtorch (Debian's
# libtorch-dev) on W1-W8, interleaved in one process, on 1 and 2 threads; then W9 and W10, the
# Python module against PyTorch from Python (python3-torch) and against C++.
bench:
	@NDGRAD_EXTRA_PACKAGES="libbenchmark-dev libtorch-dev dataset-fashion-mnist" bash tools/install_deps.sh
	@$(MAKE) --no-print-directory configure
	cmake --build $(BUILD_DIR) -j$(JOBS) --target bench_limits bench_gemm bench_kernels vs_torch
	./$(BUILD_DIR)/bench/bench_limits
	./$(BUILD_DIR)/bench/bench_gemm --threads 1
	./$(BUILD_DIR)/bench/bench_gemm --threads 2
	./$(BUILD_DIR)/bench/bench_kernels --benchmark_min_time=0.2
	./$(BUILD_DIR)/bench/vs_torch --threads 1
	./$(BUILD_DIR)/bench/vs_torch --threads 2
	@if cmake --build $(BUILD_DIR) -j$(JOBS) --target bench_distributed; then \
	  bash bench/distributed.sh; else echo "bench_distributed: not built (no MPI)"; fi
	@if cmake --build $(BUILD_DIR) -j$(JOBS) --target ndgrad_python ndgrad_bench_native; then \
	  for t in 1 2; do PYTHONPATH=$(BUILD_DIR)/python:$(BUILD_DIR)/bench/python \
	    /usr/bin/python3 bench/python/python_vs_torch.py --threads $$t; done; \
	else echo "bench: no Python module (docs/PYTHON.md): W9, W10 skipped"; fi

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
