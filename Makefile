# gridledger -- thin wrapper around CMake.  `make demo` and `make test` work
# from a fresh clone on Debian 12: both install missing packages first.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo demo-ledger test test-integration test-asan bench soak fuzz format clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# One accelerated trading day on a real local network (scripts/demo_day.py).
demo: build
	@python3 scripts/demo_day.py --build $(BUILD)

# The single-process ledger demo (genesis, signed transfers, a proof).
demo-ledger: build
	@$(BUILD)/gridledger-demo --dir $(BUILD)/demo-ledger

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Only the real-process network tests of gridnode (also part of `make test`).

test-integration: build
	@cd $(BUILD) && ctest --output-on-failure -R '^integration/node_'

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DGL_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

bench:
	@bash scripts/deps.sh --bench
	@$(MAKE) --no-print-directory build
	@bash scripts/bench.sh $(BUILD)

# Thousands of consensus simulator seeds per engine (SOAK_SEEDS, default 2000).
soak: build
	@bash scripts/soak.sh $(BUILD)

# Coverage-guided fuzzing with clang's libFuzzer: FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DGL_LIBFUZZER=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@for t in $(BUILD_FUZZ)/fuzz_*; do n=$$(basename $$t); \
		mkdir -p $(BUILD_FUZZ)/corpus-$$n; \
		$$t -max_total_time=$(FUZZ_SECONDS) $(BUILD_FUZZ)/corpus-$$n tests/fuzz/corpus/$$n || exit 1; \
	done

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
