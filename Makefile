# mxrelay: the two set-up commands are `make run` and `make test`.
# Every target installs the Debian packages it needs first.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
PYTEST ?= /usr/bin/python3 -m pytest

.PHONY: all deps build run test unit integration fuzz fuzz-short bench clean

all: build

deps-%:
	@scripts/install-deps $*

# Release build (what `make run` and the benchmarks use).
build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXR_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Run the daemon in the foreground on its embedded default configuration:
# listen on 127.0.0.1:2525, relay for 127.0.0.0/8 and ::1, queue under ./var/.
run: deps-run build
	./$(BUILD)/mxrelayd

# Sanitizer build (ASan + UBSan): the unit and integration tests run on it.
asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMXR_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

unit: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

integration: asan
	MXR_BIN=$(CURDIR)/$(ASAN_BUILD) $(PYTEST) -q tests/integration

fuzz-build: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMXR_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# A short run of every fuzz target over its corpus (part of `make test`).
fuzz-short: fuzz-build
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Longer fuzzing: make fuzz FUZZ_SECONDS=600
fuzz: fuzz-build
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: unit fuzz-short integration

bench: deps-bench build
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
