# tinyllava.cpp — a thin, friendly wrapper around CMake (CMakeLists.txt is the source of truth).
#
#   make          build (Release) into build/
#   make test     install missing Debian packages (as root), build, run every test
#   make bench    build and run the benchmarks (bench/)
#   make demo     write a small random-weight checkpoint and run the whole pipeline on a shipped image
#   make run      download the real checkpoint (1.78 GB, once) and ask it about an image
#                 (IMAGE=path-or-URL PROMPT="..." to change them)
#   make deps     install the Debian packages the build needs (prints the apt-get line if not root)
#   make test-sanitize   build and run every test with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz     build the libFuzzer targets (clang) and run each for FUZZ_SECONDS (default 60)
#   make cuda-emu run the CUDA kernels (gemm, attention, ops_cuda) in a CPU emulator against kernels/ref (no GPU)
#   make clean    remove every build folder these targets make (build/, build-asan/, build-fuzz/,
#                 build-emu/, build-cuda/)
#
# Variables: BUILD=dir, JOBS=n, CMAKE_FLAGS="-DTINYLLAVA_CUDA=OFF ...", DEMO_DIR=dir.

BUILD       ?= build
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
DEMO_DIR    ?= $(BUILD)/demo-model
MODEL_DIR   ?= models/TinyLLaVA-OpenELM-450M-SigLIP-0.89B
HF_URL      ?= https://huggingface.co/jiajunlong/TinyLLaVA-OpenELM-450M-SigLIP-0.89B/resolve/main
IMAGE       ?= tests/fixtures/images/demo.png
PROMPT      ?= What are these?
DEB_PACKAGES := cmake make g++ libeigen3-dev libstb-dev libgtest-dev libbenchmark-dev curl libjpeg62-turbo-dev libwebp-dev libtiff-dev pkgconf libcpp-httplib-dev
SHELL := /bin/bash

.PHONY: all build configure test bench demo run model deps clean test-sanitize fuzz cuda-emu
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := json safetensors config sentencepiece tokenizer image npy quantized request

all: build

configure:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j $(JOBS)
	@tests/skipped.sh $(BUILD)

# The CUDA benchmarks run only where a GPU is visible (nvidia-smi lists one).
bench: build
	@gpu=0; nvidia-smi -L >/dev/null 2>&1 && gpu=1; \
	for b in $(BUILD)/bench/bench_*; do \
	  [ -x "$$b" ] || continue; \
	  case "$$b" in *bench_cuda_*) [ $$gpu = 1 ] || { echo "== $$b: skipped (no GPU visible)"; continue; } ;; esac; \
	  echo "== $$b"; \
	  "$$b" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true || exit 1; \
	done

# Only what it runs: the tinyllava tool (not the tests and benchmarks).
demo: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target tinyllava
	$(BUILD)/tinyllava synth -o $(DEMO_DIR) --config tests/fixtures/models/tiny/config.json \
	  --tokenizer tests/fixtures/tokenizer/small_bpe.model --seed 1 --force
	$(BUILD)/tinyllava info -m $(DEMO_DIR) | head -12
	@echo "== the weights are random, so the answer below is noise; 'make run' uses the real model"
	$(BUILD)/tinyllava run -m $(DEMO_DIR) -i $(IMAGE) -p "$(PROMPT)" -n 24

# The real checkpoint from Hugging Face, fetched once with curl.
MODEL_FILES := config.json generation_config.json tokenizer.model model.safetensors
model:
	@mkdir -p $(MODEL_DIR)
	@for f in $(MODEL_FILES); do \
	  [ -s "$(MODEL_DIR)/$$f" ] && continue; \
	  echo "downloading $$f"; \
	  if ! curl -fL --retry 2 -o "$(MODEL_DIR)/$$f.part" "$(HF_URL)/$$f"; then \
	    rm -f "$(MODEL_DIR)/$$f.part"; \
	    echo "could not download $(HF_URL)/$$f (offline?). Put the files in $(MODEL_DIR)/, or try 'make demo'."; \
	    exit 1; \
	  fi; \
	  mv "$(MODEL_DIR)/$$f.part" "$(MODEL_DIR)/$$f"; \
	done

run: build model
	$(BUILD)/tinyllava run -m $(MODEL_DIR) -i $(IMAGE) -p "$(PROMPT)"

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

# The whole test suite under ASan + UBSan (CPU only; a separate build tree).
test-sanitize: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYLLAVA_SANITIZE=ON -DTINYLLAVA_CUDA=OFF -DTINYLLAVA_BENCH=OFF
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure --no-tests=error -j $(JOBS)

# libFuzzer: each target runs FUZZ_SECONDS on its committed seeds (tests/fuzz/corpus/<target>), growing
# a working corpus in build-fuzz/corpus/<target>; crashes land in build-fuzz/artifacts/.
# The CUDA kernels without a GPU: tools/cuda_emu transforms kernels/cuda/{gemm,attention,ops_cuda}.cu and
# runs them on the CUDA tests' cases under two thread schedules (g++, make, python3; ~2 minutes).
cuda-emu:
	tools/cuda_emu/run.sh

fuzz:
	@command -v clang++ >/dev/null || { echo "fuzz: needs clang and libFuzzer: apt-get install -y clang libclang-rt-dev"; exit 1; }
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYLLAVA_FUZZ=ON \
	  -DTINYLLAVA_TESTS=OFF -DTINYLLAVA_BENCH=OFF -DTINYLLAVA_CUDA=OFF
	cmake --build build-fuzz -j $(JOBS)
	@mkdir -p build-fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "== fuzz_$$t ($(FUZZ_SECONDS) s)"; \
	  build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
	    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/$$t- \
	    build-fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|Done" ; \
	  status=$${PIPESTATUS[0]}; [ "$$status" = 0 ] || { echo "fuzz_$$t FAILED (see build-fuzz/artifacts)"; exit 1; }; \
	done

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-emu build-cuda
