# make test  : installs missing Debian packages (as root), builds (Release, -j2), runs ctest
# make demo  : installs the Fashion-MNIST data set, builds, trains the MLP on it
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_ARGS ?=

.PHONY: all deps configure build test demo walkthrough install clean

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

# The main job: train the MLP on Fashion-MNIST (Debian's dataset-fashion-mnist).
demo:
	@NDGRAD_EXTRA_PACKAGES=dataset-fashion-mnist bash tools/install_deps.sh
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/examples/fashion_mnist --out $(BUILD_DIR)/fashion_mnist

# The founding examples walked through: shapes, values, gradients, a Jacobian, a gradcheck.
walkthrough: build
	./$(BUILD_DIR)/examples/founding_walkthrough

install: build
	cmake --install $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
