# SPDX-License-Identifier: MIT
# Front door: every target installs what it needs, configures and builds.
#   make         build everything into build/ (tools in build/tools/)
#   make run     the main job: the lab scenario (tools/lab-run)
#   make test    everything CI runs: release build with -Werror, an
#                ASan+UBSan build (clang, with the fuzzers), all suites,
#                ending in "N passed, N failed, N skipped"
#   make bench   side-by-side benchmarks, tables into docs/PERFORMANCE.md
#   make soak    long stress, fault and fuzz campaigns

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON_OPTS ?=
NINJA      ?= ninja

.PHONY: all deps deps-test build build-asan run test bench soak clean

all: build

deps:
	@tools/install-deps build

deps-test:
	@tools/install-deps test

$(BUILD)/build.ninja:
	meson setup $(BUILD) -Dwerror=true $(MESON_OPTS)

$(BUILD_ASAN)/build.ninja:
	CC=clang meson setup $(BUILD_ASAN) -Dwerror=true -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	$(NINJA) -C $(BUILD)

build-asan: deps-test $(BUILD_ASAN)/build.ninja
	$(NINJA) -C $(BUILD_ASAN)

run: build
	tools/lab-run $(BUILD)

test: deps-test build build-asan
	tests/run-tests $(BUILD) $(BUILD_ASAN)

bench: deps-test build
	tests/bench/run-all $(BUILD)

soak: deps-test build build-asan
	SOAK=1 tests/run-tests --suite soak $(BUILD) $(BUILD_ASAN)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
