# raftkv: the two commands are `make run` and `make test`. Both install what they need
# from Debian's packages first (scripts/install-deps.sh, idempotent).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN  := -G Ninja

export CCACHE_DIR ?= $(HOME)/.cache/ccache
# Checkouts of the same tree (git worktrees, CI clones) share cache hits: paths are hashed
# relative to the checkout and the working directory is not hashed.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true

.PHONY: all deps build build-asan test test-unit test-asan run sim bench chaos clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DRAFTKV_SANITIZE=ON -DRAFTKV_CORE_ONLY=ON

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Everything in the normal build, then the core and simulator tests under ASan+UBSan.
test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L core --timeout 900

# A local 3-member raftkvd cluster on 127.0.0.1 (scripts/run-cluster.sh); Ctrl-C stops it.
run: build
	scripts/run-cluster.sh $(BUILD)

# Side-by-side benchmark against etcd (bench/compare-etcd; needs etcd-server and gnuplot),
# both driven by etcd's own load generator, built once from Debian's etcd sources.
# BENCH_ARGS passes options on, e.g. make bench BENCH_ARGS='--quick' or '--members 5'.
BENCH_ARGS ?=
bench: build
	@scripts/install-deps.sh etcd-server gnuplot-nox
	scripts/build-etcd-benchmark.sh $(BUILD)/bin/etcd-benchmark
	bench/compare-etcd --build $(BUILD) --generator etcd $(BENCH_ARGS)

# Long real-process fault runs (tests/chaos): make chaos DURATION=600
DURATION ?= 300
chaos: build
	tests/chaos/run --build $(BUILD) --duration $(DURATION)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')
