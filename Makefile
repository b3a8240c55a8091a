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

.PHONY: all deps build build-asan test test-unit test-asan run sim bench chaos fuzz clean format

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
# `make run TLS=1`: the same cluster secured (TLS everywhere, client certificates required).
run: build
	scripts/run-cluster.sh $(if $(TLS),--tls) $(BUILD)

# Side-by-side benchmark against etcd (bench/compare-etcd; needs etcd-server and gnuplot).
bench: build
	@scripts/install-deps.sh etcd-server gnuplot-nox
	bench/compare-etcd --build $(BUILD)

# Long real-process fault runs (tests/chaos): make chaos DURATION=600
DURATION ?= 300
chaos: build
	tests/chaos/run --build $(BUILD) --duration $(DURATION)

# libFuzzer runs of the decoders peers and clients reach (tests/fuzz): clang with ASan and
# UBSan, FUZZ_SECONDS per target, starting from the committed corpus (new finds go to
# $(FUZZ_BUILD)/corpus, not into the repo).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := peer_batch snapshot_chunk client_request snapshot_image
$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DRAFTKV_SANITIZE=ON -DRAFTKV_LIBFUZZER=ON

fuzz:
	@scripts/install-deps.sh clang libclang-rt-14-dev
	$(MAKE) $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz-,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t && cp -n tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/corpus/$$t/ ; \
	  echo "fuzz $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/bin/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(FUZZ_BUILD)/corpus/$$t || exit 1; \
	done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')
