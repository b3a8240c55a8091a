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

.PHONY: all deps build build-asan test test-unit test-asan run sim bench chaos soak mutation fuzz \
        clean format scenarios-html

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

# The mixed simulator search (docs/simulator.md, "Soak"): swarm seeds on every core until
# DURATION seconds have passed, or SEEDS seeds; a progress line a minute, and the replay
# command of every failing seed. A new seed range each time unless FIRST_SEED is given.
SEEDS ?=
FIRST_SEED ?= $(shell date +%s)000
soak: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS) --target raftkv-sim
	$(BUILD)/bin/raftkv-sim --swarm --jobs $(JOBS) --progress 60 --show-events 10 \
	  --first-seed $(FIRST_SEED) $(if $(SEEDS),--seeds $(SEEDS),--duration $(DURATION))

# The mutation harness (tools/mutation): plants each mutant of tools/mutation/mutants.toml,
# rebuilds the simulator in build-mutation/ and requires the swarm search to catch it.
MUTATION_ARGS ?=
mutation: deps
	tools/mutation/run $(MUTATION_ARGS)

# Every scenario test as an HTML replay, with an index page of the study notes' questions
# (tests/scenarios/README.md), into $(SCENARIOS_HTML); then the planted-bug scenarios that
# must fail (bugs/: their replays jump to the violation).
SCENARIOS_HTML ?= $(BUILD)/scenarios-html
BUG_SCENARIOS := 1:Safety.S3_figure8_old_term_entry_is_not_committed_by_counting \
  2:Safety.S1_only_a_server_with_every_committed_entry_can_win \
  3:Election.E12_vote_survives_crash_and_restart \
  4:Replication.R1_write_is_committed_by_a_majority_then_applied_then_answered \
  5:Membership.M1_second_change_waits_until_the_first_is_applied \
  6:Snapshot.L2_new_server_and_slow_follower_catch_up_from_a_snapshot
scenarios-html: build
	rm -rf $(SCENARIOS_HTML) && mkdir -p $(SCENARIOS_HTML)/bugs
	@for b in $(BUG_SCENARIOS); do n=$${b%%:*}; t=$${b#*:}; \
	  RAFTKV_SCENARIO_HTML=$(abspath $(SCENARIOS_HTML))/bugs RAFTKV_SCENARIO_HTML_TAG=bug$$n- \
	    $(BUILD)/test-bin/scenario_tests_bug$$n --gtest_filter=$$t > /dev/null 2>&1 || true; done
	RAFTKV_SCENARIO_HTML=$(abspath $(SCENARIOS_HTML)) $(BUILD)/test-bin/scenario_tests --gtest_brief=1
	@echo "scenarios-html: open $(SCENARIOS_HTML)/index.html"

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-mutation

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')
