# dtrack: one Makefile drives everything (see README.md).
#   make            library, BPF skeletons, the dtrack CLI and tools
#   make test       build and run the GoogleTest suites
#   make run        the demo
#   make bench      benchmarks (ratios measured side by side)
#   make asan       library, tools and tests under AddressSanitizer + UBSan in
#                   build-asan/, then the whole suite (any report fails it)
#   make tsan       the same under ThreadSanitizer in build-tsan/
#                   (suppressions: tests/tsan.supp)
#   V=1             print full commands
#   SANITIZE=list   -fsanitize=list (-O1) for every C++ object and link; use
#                   with a BUILD of its own (asan/tsan do both)
# Out-of-tree: everything is built under $(BUILD).

BUILD    ?= build
# The one version number: `dtrack --version`, `dtvm --version`, the soname.
VERSION  := $(shell cat VERSION)
VERSION_MAJOR := $(firstword $(subst ., ,$(VERSION)))
CXX      ?= g++
CLANG    ?= clang
BPFTOOL  ?= bpftool
# Kernel BTF for vmlinux.h; point it at a missing file to try the no-BTF fallback.
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Sanitizers: every C++ compile and link (SAN_FLAGS), never the BPF programs.
SANITIZE  ?=
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer)
ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
# CXXFLAGS is the user's (make CXXFLAGS=-O0 builds too); what dtrack needs
# whatever it says is in DT_CXXFLAGS.
CXXFLAGS    ?= $(if $(SANITIZE),-O1 -g,-O2 -g)
DT_CXXFLAGS := -std=c++20 -Wall -Wextra -Wno-missing-field-initializers -fPIC -pthread \
               -Ilib/include -Ilib -Ibpf -I$(BUILD)/bpf -MMD -MP -DDTRACK_VERSION='"$(VERSION)"' $(SAN_FLAGS)
LDLIBS    := -lbpf -lelf -lz -lssl -lcrypto -pthread
BPFCFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD)/bpf -Ibpf

# --- Debian packages every target needs (installed by `make deps`) -----------
DEB_PACKAGES := g++ make clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev \
                libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
                nlohmann-json3-dev binutils pkg-config libssl-dev openssl \
                libcairo2-dev libclang-rt-14-dev

# --- sources, by stage of the data flow: kernel -> sources -> engine -> consumers
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
LIB_SRCS  := $(wildcard lib/engine/*.cpp lib/sources/*.cpp lib/consumers/*.cpp lib/probe/*.cpp)
LIB_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(LIB_SRCS))
CLI_SRCS  := $(wildcard user/*.cpp)
CLI_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(CLI_SRCS))
TEST_SRCS := $(filter-out tests/bench/% tests/fuzz/%,$(wildcard tests/*.cpp tests/*/*.cpp))
TEST_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(TEST_SRCS))
BENCH_SRCS := $(wildcard tests/bench/*.cpp)
BENCH_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(BENCH_SRCS))

LIB_A  := $(BUILD)/libdtrack.a
# libdtrack.so.MAJOR.MINOR.PATCH, soname libdtrack.so.MAJOR, and the two links.
LIB_SONAME := libdtrack.so.$(VERSION_MAJOR)
LIB_SO     := $(BUILD)/libdtrack.so.$(VERSION)
CLI    := $(BUILD)/dtrack
TESTS  := $(BUILD)/dtrack_tests
BENCH  := $(BUILD)/dtrack_bench

# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

.DEFAULT_GOAL := all
TOOLS :=
include $(wildcard tools/*/tool.mk)

.PHONY: all deps test soak run bench clean asan tsan fuzz
all: $(LIB_A) $(LIB_SO) $(CLI) $(TOOLS)

# Installs what is missing; a no-op (one dpkg-query) when everything is there.
deps:
	$(Q)missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then echo "deps: need root to apt-get install: $$missing" >&2; exit 1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi

# --- BPF: clang -target bpf -> bpftool gen object -> bpftool gen skeleton ------
# vmlinux.h comes from the running kernel's BTF; without BTF the programs build
# against bpf/compat/vmlinux_fallback.h (tracepoint structs from tracefs).
$(BUILD)/bpf/vmlinux.h: | deps
	$(Q)mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)if [ -r $(VMLINUX_BTF) ] && $(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp 2>/dev/null; then \
	    mv $@.tmp $@; \
	else \
	    echo "  (no kernel BTF: using bpf/compat/vmlinux_fallback.h)"; \
	    echo '#include "compat/vmlinux_fallback.h"' > $@; rm -f $@.tmp; \
	fi

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/bpf/vmlinux.h $(wildcard bpf/*.h bpf/compat/*.h) | deps
	$(Q)mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPFCFLAGS) -c $< -o $@.raw
	$(Q)$(BPFTOOL) gen object $@ $@.raw && rm -f $@.raw

# Keep BPF objects and skeletons: make would delete them as intermediates.
.SECONDARY: $(BPF_SKELS) $(BPF_SKELS:.skel.h=.bpf.o)

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# --- C++: every object waits for the skeletons (order-only); -MMD records
# which ones it really includes, so a changed BPF program rebuilds only those.
$(BUILD)/%.o: %.cpp | deps $(BPF_SKELS)
	$(Q)mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(DT_CXXFLAGS) $(CXXFLAGS) -c $< -o $@

# The shared object exports the public API only (dtrack/export.hpp).
$(LIB_OBJS): DT_CXXFLAGS += -fvisibility=hidden -fvisibility-inlines-hidden -DDTRACK_BUILDING_LIBRARY

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -shared -Wl,-soname,$(LIB_SONAME) -o $@ $^ $(LDLIBS)
	$(Q)ln -sf $(@F) $(BUILD)/$(LIB_SONAME) && ln -sf $(LIB_SONAME) $(BUILD)/libdtrack.so

# dtrack report draws with cairo (SVG and PNG from one drawing code); only the CLI links it.
CAIRO_CFLAGS = $(shell pkg-config --cflags cairo 2>/dev/null)
CAIRO_LIBS   = $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo)
$(BUILD)/user/report_draw.o: DT_CXXFLAGS += $(CAIRO_CFLAGS)

$(CLI): $(CLI_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ $(LDLIBS) $(CAIRO_LIBS)

# Tests find their helpers under tests/ and the built binaries (dtrack, dtvm)
# through DTRACK_BUILD_DIR; only they see tests/.
$(TEST_OBJS) $(BENCH_OBJS): DT_CXXFLAGS += -Itests -DDTRACK_BUILD_DIR='"$(abspath $(BUILD))"' \
                                           -DDTRACK_SOURCE_DIR='"$(abspath .)"'

# Tests drive real VMs through dtvm's VM layer.
$(TEST_OBJS): DT_CXXFLAGS += -Itools/dtvm

$(TESTS): $(TEST_OBJS) $(DTVM_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ -lgmock -lgtest $(LDLIBS)

$(BENCH): $(BENCH_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ -lbenchmark $(LDLIBS)

# The suite prints "tests: N passed, N failed" as its last line.
TEST_ARGS ?=
test: all $(TESTS)
ifeq ($(SANITIZE),)
	$(Q)$(TESTS) $(TEST_ARGS)
else
	$(Q)rm -rf $(SAN_REPORTS) && mkdir -p -m 1777 $(SAN_REPORTS)
	$(Q)$(SAN_ENV) $(SAN_RUN) $(TESTS) $(TEST_ARGS); rc=$$?; \
	for r in $(SAN_REPORTS)/*; do [ -e "$$r" ] || continue; \
	    echo "== sanitizer report $$r"; cat "$$r"; rc=1; done; exit $$rc
endif

# Sanitized builds: own build directory, then the suite. The suite and every
# dtrack/dtvm it starts (they inherit the environment) write any report to
# $(SAN_REPORTS)/report.<pid> (world-writable: some children run as nobody);
# a report in any process, or a failing suite, fails the run. Options from the
# environment come last, so they win (e.g. TSAN_OPTIONS=halt_on_error=0).
comma       := ,
SAN_REPORTS := $(abspath $(BUILD))/sanitizer-reports
SAN_LOG     := log_path=$(SAN_REPORTS)/report
SAN_ENV     := ASAN_OPTIONS="halt_on_error=1:exitcode=66:$(SAN_LOG):$${ASAN_OPTIONS}" \
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=66:$(SAN_LOG):$${UBSAN_OPTIONS}" \
               TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(abspath tests/tsan.supp):$(SAN_LOG):$${TSAN_OPTIONS}"
SAN_RUN     :=

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined test
tsan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-tsan SANITIZE=thread test

# The no-lost-page oracle, 20 times longer than in `make test`.
soak: all $(TESTS)
	$(Q)DTRACK_SOAK=20 $(TESTS) --gtest_filter='*Oracle*:RingJam*'

# libFuzzer (clang -fsanitize=fuzzer,address) on the parsers of untrusted
# bytes: the recording reader and the precopy stream. Each target runs
# FUZZ_SECONDS from its corpus under tests/corpus/ (inputs found that crash
# are written there too: keep them, `make test` replays the corpus).
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_CXX     ?= clang++
FUZZ_FLAGS   := -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/include -Ilib -Itests
FUZZ_LIB     := lib/consumers/recording_format.cpp lib/consumers/recording_reader.cpp \
                lib/consumers/recording_writer.cpp lib/consumers/precopy_wire_format.cpp lib/engine/error.cpp
FUZZ_TARGETS := recording_reader precopy_wire
FUZZ_CORPUS_recording_reader := tests/corpus/recording
FUZZ_CORPUS_precopy_wire     := tests/corpus/precopy

$(FUZZ_BUILD)/%_fuzz: tests/fuzz/%_fuzz.cpp $(FUZZ_LIB) $(wildcard lib/include/dtrack/*.hpp lib/consumers/*.hpp lib/common/*.hpp tests/support/precopy_parse.hpp) | deps
	$(Q)mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB) -lz -pthread

fuzz: $(addprefix $(FUZZ_BUILD)/,$(addsuffix _fuzz,$(FUZZ_TARGETS)))
	$(Q)for t in $(FUZZ_TARGETS); do \
	    case $$t in recording_reader) c=$(FUZZ_CORPUS_recording_reader);; *) c=$(FUZZ_CORPUS_precopy_wire);; esac; \
	    mkdir -p $(FUZZ_BUILD)/$$t.new; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s (corpus $$c)"; \
	    $(FUZZ_BUILD)/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	        -artifact_prefix=$$c/crash- -print_final_stats=1 $(FUZZ_BUILD)/$$t.new $$c 2>&1 \
	        | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' || true; \
	    if ls $$c/crash-* >/dev/null 2>&1; then echo "fuzz: $$t found crashes: $$(ls $$c/crash-*)"; exit 1; fi; \
	done

# Micro-benchmarks, a real migration with and without the background sync
# (rounds of ~8 s against the default 5 s threshold; a few minutes), and what
# `dtrack rate` costs per method. KVM where /dev/kvm works, else dtvm's
# process backend.
bench: all $(BENCH)
	$(Q)$(BENCH) --benchmark_color=false
	$(Q)./tools/migration_bench.sh $(BUILD)
	$(Q)./tools/rate_overhead.sh $(BUILD)

run: all
	$(Q)./tools/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
