# mxrelay: the two set-up commands are `make run` and `make test`.
# Every target installs the Debian packages it needs first.

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
# Each target's share of `make test` (a smoke run over the corpus; `make fuzz` runs long).
FUZZ_SHORT_SECONDS ?= 6
PYTEST ?= /usr/bin/python3 -m pytest
# make install: PREFIX is where programs, man pages and the unit go (the
# configuration goes to /etc/mxrelay for PREFIX=/usr, PREFIX/etc/mxrelay
# otherwise); DESTDIR stages the whole tree under another root.
PREFIX ?= /usr/local
DESTDIR ?=
DEB_BUILD ?= build-deb

.PHONY: all deps build run test unit integration fuzz fuzz-short bench clean \
	install install-dev deb deb-test

all: build

deps-%:
	@scripts/install-deps $*

# Release build (what `make run` and the benchmarks use).
build: deps-build
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXR_TESTS=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
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

# Test peers unpacked from Debian packages, never installed as services (fail2ban-regex).
DEB_CACHE ?= build-debs
TEST_DEBS = fail2ban

# Each test file runs whole on one of $(JOBS) workers (pytest-xdist), each test in a
# network namespace of its own: most of a test is waiting on real peers.
integration: asan
	scripts/unpack-deb $(DEB_CACHE) $(TEST_DEBS)
	MXR_BIN=$(CURDIR)/$(ASAN_BUILD) MXR_DEB_CACHE=$(CURDIR)/$(DEB_CACHE) $(PYTEST) -q --durations=15 \
	    -n $(JOBS) --dist loadfile tests/integration

fuzz-build: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DMXR_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# A short run of every fuzz target over its corpus (part of `make test`).
fuzz-short: fuzz-build
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SHORT_SECONDS)

# Longer fuzzing: make fuzz (600 s a target), or make fuzz FUZZ_SECONDS=N
fuzz: fuzz-build
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: unit fuzz-short integration

# Install the release build: mxrelayd in PREFIX/sbin, mxrelay in PREFIX/bin
# with the sendmail (sbin) and mailq (bin) links, the man pages, the systemd
# unit (running PREFIX/sbin/mxrelayd) and, unless there is one, the example
# configuration. Into the live system as root, it also creates the system
# user mxrelay the daemon runs as.
install: build
	DESTDIR="$(if $(DESTDIR),$(abspath $(DESTDIR)))" cmake --install $(BUILD)
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && ! getent passwd mxrelay >/dev/null; then \
		echo "install: creating the system user mxrelay"; \
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mxrelay; \
	fi

# libmxrelay.a and its headers, for programs that embed the delivery engine.
install-dev: build
	DESTDIR="$(if $(DESTDIR),$(abspath $(DESTDIR)))" cmake --install $(BUILD) --component dev

# The Debian package, built with debhelper from a copy of the tree in
# $(DEB_BUILD)/ (dpkg-buildpackage writes next to the tree it builds),
# then checked by lintian: the .deb and the lintian report are left there.
deb: deps-deb
	rm -rf $(DEB_BUILD)
	mkdir -p $(DEB_BUILD)/mxrelay
	git ls-files -z --cached --others --exclude-standard | \
	    tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C $(DEB_BUILD)/mxrelay
	cd $(DEB_BUILD)/mxrelay && DEB_BUILD_OPTIONS="parallel=$(JOBS)" \
	    dpkg-buildpackage --build=binary --no-sign >../dpkg-buildpackage.log 2>&1 || \
	    { tail -40 ../dpkg-buildpackage.log; exit 1; }
	cd $(DEB_BUILD) && { lintian --fail-on error --tag-display-limit 0 *.changes >lintian.txt 2>&1; \
	    rc=$$?; cat lintian.txt; exit $$rc; }
	@ls $(DEB_BUILD)/*.deb

# The package test: the .deb unpacked into a scratch root runs there.
deb-test: deb
	MXR_DEB_DIR=$(abspath $(DEB_BUILD)) $(PYTEST) -q tests/integration/test_package_install.py

bench: deps-bench build
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(DEB_BUILD)
