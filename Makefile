# tinyllava.cpp — a thin, friendly wrapper around CMake (CMakeLists.txt is the source of truth).
#
#   make          build (Release) into build/
#   make test     install missing Debian packages (as root), build, run every test
#   make bench    build and run the benchmarks (bench/)
#   make demo     make a full-size random-weight checkpoint and describe it
#   make deps     install the Debian packages the build needs (prints the apt-get line if not root)
#   make clean    remove build/
#
# Variables: BUILD=dir, JOBS=n, CMAKE_FLAGS="-DTINYLLAVA_CUDA=OFF ...", DEMO_DIR=dir.

BUILD       ?= build
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
DEMO_DIR    ?= $(BUILD)/demo-model
DEB_PACKAGES := cmake make g++ libeigen3-dev libstb-dev libgtest-dev libbenchmark-dev

.PHONY: all build configure test bench demo deps clean

all: build

configure:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/bench_*; do \
	  [ -x "$$b" ] || continue; \
	  echo "== $$b"; \
	  "$$b" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true || exit 1; \
	done

demo: build
	$(BUILD)/tinyllava synth -o $(DEMO_DIR) --config full
	$(BUILD)/tinyllava info -m $(DEMO_DIR)

deps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
	  echo "deps: not a Debian system; install CMake, a C++17 compiler, Eigen 3, stb, GoogleTest and Google Benchmark yourself"; \
	  exit 0; \
	fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "deps: missing Debian packages:$$missing"; \
	  echo "      run: sudo apt-get install -y$$missing"; \
	  exit 1; \
	fi

clean:
	rm -rf $(BUILD)
