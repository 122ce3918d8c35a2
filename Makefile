# The whole set-up on a fresh Debian 12 machine:
#   make demo   installs what is missing, builds in Release, fits the bundled example
#   make test   the same set-up, then every test
#   make test-sanitize   every test again, built with AddressSanitizer + UBSan in build-asan/
#   make fuzz            the libFuzzer targets, FUZZ_SECONDS (60) each (needs clang; fuzz/run.sh)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build demo test test-sanitize fuzz install clean

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/lmm fit examples/growth200.csv "y ~ time * group + (time | id)"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The sanitized suite is built with clang, with libFuzzer's coverage instrumentation
# (-fsanitize=fuzzer-no-link) and the fuzz targets, so `make fuzz FUZZ_BUILD=build-asan` reuses this
# build instead of compiling the library a third time (CI: the library is compiled twice, in
# Release and here; a separate fuzz build cost about as much again as this one).
# -O1 keeps the suite fast enough for CI; no NDEBUG, so Eigen's bounds checks are on too.
# -gline-tables-only is all the sanitizers' stack traces need, and compiles much faster than -g.
# clang compiles these flags in about 75% of g++'s time (src/fit/summary.cpp: 54 s against 71 s).
# Any sanitizer report fails the test that triggers it (halt_on_error; the CLI tests' child
# processes inherit the options).
ASAN_BUILD ?= build-asan
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-sanitize: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DLMM_SANITIZE=ON -DLMM_FUZZ=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS)

# FUZZ_BUILD=build-asan runs the targets of the sanitizer build (after make test-sanitize).
FUZZ_SECONDS ?= 60
FUZZ_BUILD ?= build-fuzz
fuzz: deps
	LMM_FUZZ_BUILD=$(abspath $(FUZZ_BUILD)) fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
