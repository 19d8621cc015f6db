# dtrack: one Makefile drives everything (see README.md).
#   make deps       the Debian packages (test, run, bench, soak, fuzz call it)
#   make            library, BPF skeletons, the dtrack CLI and tools
#   make test       build and run the GoogleTest suites
#   make run        the demo
#   make bench      the headline benchmarks (ratios side by side, < 10 min);
#                   make bench-full every benchmark (about 75 min)
#   make install    (install-strip, uninstall) see below
#   make format     clang-format the tree (format-check: fail where it differs)
#   make asan       library, tools and tests under AddressSanitizer + UBSan in
#                   build-asan/, then the whole suite (any report fails it)
#   make tsan       the same under ThreadSanitizer in build-tsan/
#                   (suppressions: tests/tsan.supp)
#   V=1             print full commands
#   SANITIZE=list   -fsanitize=list (-O1) for every C++ object and link; use
#                   with a BUILD of its own (asan/tsan do both)
# Out-of-tree: everything is built under $(BUILD).

BUILD    ?= build
# Compile on every core unless the caller chose (make -jN): the build is most
# of a clean `make test`. Only at the top: a recursive make shares its jobs.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc)
endif
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
LDLIBS    := -lbpf -lelf -lz -lzstd -lssl -lcrypto -lxxhash -pthread
# cpp-httplib (the tests' and the scrape benchmark's HTTP client): Debian ships
# it compiled (libcpp-httplib.so), and its classes' layout depends on the
# CPPHTTPLIB_* macros the library was built with, which its pkg-config file
# gives. Recursive (=): asked when a compile runs, after `deps` installed it.
HTTPLIB_CFLAGS = $(shell pkg-config --cflags cpp-httplib)
HTTPLIB_LIBS   := -lcpp-httplib
# The sidecar's --web-config-file: YAML (yaml-cpp) and bcrypt (libxcrypt's crypt_r).
WEBCONFIG_LIBS := -lyaml-cpp -lcrypt
BPFCFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD)/bpf -Ibpf

# --- Debian packages every target needs (installed by `make deps`) -----------
DEB_PACKAGES := g++ make clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libzstd-dev \
                libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev jq \
                nlohmann-json3-dev binutils pkg-config libssl-dev openssl libcpp-httplib-dev curl \
                libcairo2-dev libexpat1-dev libclang-rt-14-dev libxxhash-dev libyaml-cpp-dev libcrypt-dev clang-format
# Wanted by some tests, which skip with the reason where they are missing:
# QEMU (a real third-party VMM, under TCG), promtool (checks the rules in
# tools/prometheus), systemd-analyze (verifies the sidecar's unit) and libvirt
# (libvirtd and virsh, for the sidecar beside a real libvirt domain).
# Installed where the distribution has them.
DEB_PACKAGES_OPTIONAL := qemu-system-x86 prometheus systemd libvirt-daemon-system libvirt-clients \
                         $(if $(shell command -v npm),,npm)
# The Kubernetes manifests' check (tests/deploy/): its npm packages, pinned in
# tests/deploy/package.json, into $(BUILD)/npm; skipped where npm or the
# registry is not there (the tests that need them skip and say why).
NPM_DIR := $(BUILD)/npm

# --- sources, by stage of the data flow: kernel -> sources -> engine -> consumers
BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.skel.h,$(BPF_SRCS))
# Every folder below each stage, at any depth (sorted: a stable link order).
find_cpp   = $(sort $(shell find $(1) -name '*.cpp' 2>/dev/null))
LIB_SRCS  := $(call find_cpp,lib/common lib/engine lib/sources lib/consumers lib/probe lib/capi)
LIB_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(LIB_SRCS))
CLI_SRCS  := $(call find_cpp,user)
CLI_OBJS  := $(patsubst %.cpp,$(BUILD)/%.o,$(CLI_SRCS))
# The sidecar's and the CLI's pieces that tests link and check on their own.
SIDECAR_UNIT_OBJS := $(patsubst %,$(BUILD)/user/sidecar/%.o,metrics/exposition_format metrics/working_set_windows \
                       metrics/metrics_registry http/http_request_parser http/http_compression http/basic_auth \
                       http/web_config http/small_file pid_files/pid_file_trust pid_files/pid_file_reconcile \
                       kubevirt/cgroup_pod kubevirt/oci_annotations kubevirt/qemu_domain_name kubevirt/kubevirt_vm \
                       targets/target_labels targets/qemu_identity)
CLI_UNIT_OBJS := $(BUILD)/user/rate/stuck_vcpus_line.o
TEST_SRCS := $(filter-out tests/bench/% tests/fuzz/%,$(call find_cpp,tests))
TEST_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(TEST_SRCS))
BENCH_SRCS := $(call find_cpp,tests/bench)
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

.PHONY: all deps test soak run bench bench-full clean asan tsan install install-strip uninstall fuzz format format-check FORCE
all: $(LIB_A) $(LIB_SO) $(CLI) $(TOOLS)

# Installs what is missing; a no-op (one dpkg-query) when everything is there.
# An explicit step, as in libbpf-tools: `make` builds with what is installed;
# test, run, bench, soak and fuzz call deps first, then build what they need
# in a make of their own (so nothing compiles before the packages are there).
deps:
	$(Q)missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then echo "deps: need root to apt-get install: $$missing" >&2; exit 1; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	$(Q)for p in $(DEB_PACKAGES_OPTIONAL); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' && continue; \
	    [ "$$(id -u)" = 0 ] || { echo "deps: not root, so not installing optional $$p (tests that need it skip)"; continue; }; \
	    [ -n "$$(apt-cache policy $$p 2>/dev/null | grep 'Candidate: [0-9]')" ] || apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$p >/dev/null 2>&1 \
	        || echo "deps: optional $$p is not installable here (tests that need it skip)"; \
	done
	$(Q)if ! command -v npm >/dev/null; then echo "deps: no npm, so no manifest check (tests/deploy skip)"; \
	elif ! cmp -s tests/deploy/package.json $(NPM_DIR)/package.json; then \
	    mkdir -p $(NPM_DIR) && cp tests/deploy/package.json $(NPM_DIR)/package.json && \
	    (cd $(NPM_DIR) && timeout 300 npm install --no-audit --no-fund --silent >/dev/null 2>&1) \
	    || { rm -f $(NPM_DIR)/package.json; echo "deps: npm install failed (registry unreachable?): tests/deploy skip"; }; \
	fi

# --- BPF: clang -target bpf -> bpftool gen object -> bpftool gen skeleton ------
# vmlinux.h comes from the running kernel's BTF; without BTF the programs build
# against bpf/compat/vmlinux_fallback.h (tracepoint structs from tracefs).
# vmlinux.source says which of the two it is, rewritten only when that
# changes: a build that ran before bpftool was installed (a first `make`
# beside `make deps`) is rebuilt against the BTF once it can be, instead of
# keeping the fallback, whose iterators see no VM.
$(BUILD)/bpf/vmlinux.source: FORCE
	$(Q)mkdir -p $(@D)
	$(Q)if [ -r $(VMLINUX_BTF) ] && command -v $(BPFTOOL) >/dev/null; then s=btf; else s=fallback; fi; \
	    [ "$$(cat $@ 2>/dev/null)" = "$$s" ] || echo "$$s" > $@

$(BUILD)/bpf/vmlinux.h: $(BUILD)/bpf/vmlinux.source
	$(Q)mkdir -p $(@D)
	$(call msg,GEN,$@)
	$(Q)if [ -r $(VMLINUX_BTF) ] && $(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp 2>/dev/null; then \
	    mv $@.tmp $@; \
	else \
	    echo "  (no kernel BTF: using bpf/compat/vmlinux_fallback.h)"; \
	    echo '#include "compat/vmlinux_fallback.h"' > $@; rm -f $@.tmp; \
	fi

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BUILD)/bpf/vmlinux.h $(wildcard bpf/*.h bpf/compat/*.h)
	$(Q)mkdir -p $(@D)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPFCFLAGS) -c $< -o $@.raw
	$(Q)$(BPFTOOL) gen object $@ $@.raw && rm -f $@.raw

# Atomic AND/OR that return the old value (BPF_FETCH) need the v3 instruction set (Linux 5.12+).
$(BUILD)/bpf/kvm_dirty_log.bpf.o: BPFCFLAGS += -mcpu=v3

# Keep BPF objects and skeletons: make would delete them as intermediates.
.SECONDARY: $(BPF_SKELS) $(BPF_SKELS:.skel.h=.bpf.o)

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# --- C++: every object waits for the skeletons (order-only); -MMD records
# which ones it really includes, so a changed BPF program rebuilds only those.
# The two files that spell out DTRACK_VERSION are rebuilt when it changes.
$(BUILD)/lib/common/version.o $(BUILD)/lib/capi/capi_version.o: VERSION

$(BUILD)/%.o: %.cpp | $(BPF_SKELS)
	$(Q)mkdir -p $(@D)
	$(call msg,CXX,$@)
	$(Q)$(CXX) $(DT_CXXFLAGS) $(OBJ_CXXFLAGS) $(CXXFLAGS) -c $< -o $@

# The shared object exports the public API only (dtrack/export.hpp).
$(LIB_OBJS): DT_CXXFLAGS += -fvisibility=hidden -fvisibility-inlines-hidden -DDTRACK_BUILDING_LIBRARY

$(LIB_A): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# lib/libdtrack.map: only dt_* and dtrack:: symbols are exported.
$(LIB_SO): $(LIB_OBJS) lib/libdtrack.map
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libdtrack.map -o $@ $(LIB_OBJS) $(LDLIBS)
	$(Q)ln -sf $(@F) $(BUILD)/$(LIB_SONAME) && ln -sf $(LIB_SONAME) $(BUILD)/libdtrack.so

# Objects that include cairo.h (OBJ_CXXFLAGS is expanded when they compile,
# after `deps` installed the packages pkg-config asks about).
# dtrack report draws with cairo (SVG and PNG from one drawing code); only the CLI links it.
CAIRO_CFLAGS = $(shell pkg-config --cflags cairo 2>/dev/null)
CAIRO_LIBS   = $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo)
$(BUILD)/user/report/report_draw.o: OBJ_CXXFLAGS = $(CAIRO_CFLAGS)
$(CLI_OBJS): DT_CXXFLAGS += -Iuser

$(CLI): $(CLI_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ $(WEBCONFIG_LIBS) $(CAIRO_LIBS) $(LDLIBS)

# Tests find their helpers under tests/, the built binaries (dtrack, dtvm)
# through DTRACK_BUILD_DIR and shipped files (tools/prometheus, corpora)
# through DTRACK_SOURCE_DIR; only they see tests/.
# The benchmarks say how they were built (their timed loops are dtrack's code).
$(BENCH_OBJS): DT_CXXFLAGS += -DDTRACK_BENCH_CXXFLAGS='"$(CXXFLAGS)"'
$(TEST_OBJS) $(BENCH_OBJS): DT_CXXFLAGS += -Itests -DDTRACK_BUILD_DIR='"$(abspath $(BUILD))"' \
                                          -DDTRACK_SOURCE_DIR='"$(CURDIR)"'

# A boot sector for QEMU under TCG (tests/qemu/): a third-party VMM with a
# known dirty set. 16-bit code linked at 0x7c00, where the BIOS loads it.
QEMU_GUEST := $(BUILD)/tests/qemu/dirtying_guest.img
$(QEMU_GUEST): tests/qemu/dirtying_guest.S
	$(Q)mkdir -p $(@D)
	$(call msg,AS,$@)
	$(Q)as --32 -o $@.o $< && ld -m elf_i386 -Ttext 0x7c00 -e _start --oformat binary -o $@ $@.o && rm -f $@.o
	$(Q)[ "$$(stat -c %s $@)" = 512 ] || { echo "$@: a boot sector is 512 bytes" >&2; rm -f $@; exit 1; }

# A boot sector for QEMU under KVM that enters long mode and writes from
# ring 3, so it runs natively even on a PVM host: linked for x86-64 (its
# 16-bit start and its 64-bit loop in one image).
QEMU_NATIVE_GUEST := $(BUILD)/tests/qemu/native_guest.img
$(QEMU_NATIVE_GUEST): tests/qemu/native_guest.S
	$(Q)mkdir -p $(@D)
	$(call msg,AS,$@)
	$(Q)as --64 -o $@.o $< && ld -m elf_x86_64 -Ttext 0x7c00 -e _start --oformat binary -o $@ $@.o && rm -f $@.o
	$(Q)[ "$$(stat -c %s $@)" = 512 ] || { echo "$@: a boot sector is 512 bytes" >&2; rm -f $@; exit 1; }

# The QEMU tests boot these images: building the test binary builds them.
$(TESTS): | $(QEMU_GUEST) $(QEMU_NATIVE_GUEST)

# Tests drive real VMs through dtvm's VM layer, check the sidecar's pieces,
# and scrape the sidecar with httplib's client.
$(TEST_OBJS): DT_CXXFLAGS += -Itools -Iuser
# Line tables only for the test code (a failure's backtrace keeps its lines):
# full debug info of gtest, json and httplib templates made a third of a
# clean make test's build. -Og too: the test code starts and checks, it runs
# no timed loop (the workloads are dtvm's and the library's, built -O2), and
# gtest's templates at -O2 took 197 s of a 369 s clean build (-Og: 132 s).
# A CXXFLAGS given on the command line wins; sanitized builds keep theirs.
$(TEST_OBJS): CXXFLAGS += -g1 $(if $(SANITIZE),,-Og)
# But the bitmap's reference test walks a std::vector<bool> of 100k pages
# thousands of times: -Og kept its iterators uninlined, 6.8 s of the suite.
$(BUILD)/tests/engine/dirty_bitmap_test.o: CXXFLAGS += $(if $(SANITIZE),,-O2)
$(TEST_OBJS): OBJ_CXXFLAGS = $(HTTPLIB_CFLAGS)

$(TESTS): $(TEST_OBJS) $(DTVM_LIB) $(SIDECAR_UNIT_OBJS) $(CLI_UNIT_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ -lgmock -lgtest -lexpat $(HTTPLIB_LIBS) $(WEBCONFIG_LIBS) $(LDLIBS)

$(BENCH): $(BENCH_OBJS) $(LIB_A)
	$(call msg,LD,$@)
	$(Q)$(CXX) $(SAN_FLAGS) -o $@ $^ -lbenchmark $(LDLIBS)

# --- install: headers, libdtrack.a, libdtrack.so.X.Y.Z (+ the soname and dev
# links), dtrack.pc, the dtrack and dtvm binaries, their man pages, the
# documentation the messages point at, and the sidecar's systemd unit.
#   make install [PREFIX=/usr/local] [LIBDIR=...] [DESTDIR=/staging]   (uninstall likewise)
#   INSTALL_PREBUILT=1: install what $(BUILD) holds, building nothing (e.g. as
#   another user than the one who built, or from a test).
# The directories are GNU's (prefix, exec_prefix, bindir, libdir, ...), each
# settable: LIBDIR=$(PREFIX)/lib64 or $(PREFIX)/lib/x86_64-linux-gnu where the
# distribution puts libraries there.
PREFIX       ?= /usr/local
EXEC_PREFIX  ?= $(PREFIX)
DESTDIR      ?=
BINDIR       ?= $(EXEC_PREFIX)/bin
LIBDIR       ?= $(EXEC_PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATAROOTDIR  ?= $(PREFIX)/share
MANDIR       ?= $(DATAROOTDIR)/man
DOCDIR       ?= $(DATAROOTDIR)/doc/dtrack
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# GNU's sysconfdir is $(PREFIX)/etc; a /usr install (a distribution's) uses /etc.
SYSCONFDIR   ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
# systemd reads units from /usr/local/lib/systemd/system as well as
# /usr/lib/systemd/system; a package may want
# SYSTEMDUNITDIR=$$(pkg-config --variable=systemdsystemunitdir systemd).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
PUBLIC_HEADERS := $(wildcard lib/include/dtrack/*.h lib/include/dtrack/*.hpp)
PRECOPY_HEADERS := $(wildcard lib/include/dtrack/precopy/*.hpp)
MAN_PAGES    := docs/man/dtrack.1 docs/man/dtvm.1
INSTALLED_BINS := $(CLI) $(DTVM)
SIDECAR_UNIT := deploy/systemd/dtrack-sidecar.service
SIDECAR_ENV  := deploy/systemd/dtrack-sidecar.env
SIDECAR_ENV_INSTALLED := $(SYSCONFDIR)/default/dtrack-sidecar
# Under DOCDIR, in the source tree's layout (the README's links resolve
# there): what the messages name (README.md, docs/, kconfig-notes/), the C
# example and the deployment examples.
DOC_FILES := README.md BENCHMARKS.md CONTRIBUTING.md $(wildcard docs/*.md docs/images/*.png kconfig-notes/*.md) \
             tools/examples/Makefile tools/examples/track_self.c \
             $(shell find tools/prometheus -type f 2>/dev/null | sort) $(SIDECAR_ENV)
DOC_DIRS  := $(filter-out .,$(sort $(patsubst %/,%,$(dir $(DOC_FILES)))))

# Messages name the installed documentation (lib/common/installed_docs.cpp):
# $(BUILD)/docdir holds the DOCDIR the build was made for, rewritten only when
# it differs, so `make install PREFIX=/usr` rebuilds that object and relinks.
DOCDIR_STAMP := $(BUILD)/docdir
$(DOCDIR_STAMP): FORCE
	$(Q)mkdir -p $(@D)
	$(Q)[ "$$(cat $@ 2>/dev/null)" = '$(DOCDIR)' ] || printf '%s\n' '$(DOCDIR)' > $@
FORCE:
$(BUILD)/lib/common/installed_docs.o: $(DOCDIR_STAMP)
$(BUILD)/lib/common/installed_docs.o: DT_CXXFLAGS += -DDTRACK_DOCDIR='"$(DOCDIR)"'

# dtrack.pc names its directories relative to ${prefix} (as libbpf's does), so
# `pkg-config --define-prefix` can move it: $(call pc_relative,DIR,BASE,NAME)
# is DIR with BASE spelled ${NAME}, or DIR itself when it is not below BASE.
dollar := $$
pc_relative = $(if $(filter $(2) $(2)/%,$(1)),$(dollar){$(3)}$(patsubst $(2)%,%,$(1)),$(1))

# Installs $(1) as $(2), mode 0644, with the @...@ fields filled in (the one
# version number, and where things went).
install_filled = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@BINDIR@|$(BINDIR)|' -e 's|@DOCDIR@|$(DOCDIR)|' \
    -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|' -e 's|@VERSION@|$(VERSION)|' \
    -e 's|@EXEC_PREFIX@|$(call pc_relative,$(EXEC_PREFIX),$(PREFIX),prefix)|' \
    -e 's|@LIBDIR@|$(call pc_relative,$(LIBDIR),$(EXEC_PREFIX),exec_prefix)|' \
    -e 's|@INCLUDEDIR@|$(call pc_relative,$(INCLUDEDIR),$(PREFIX),prefix)|' \
    $(1) > $(2).tmp && install -m 0644 $(2).tmp $(2) && rm -f $(2).tmp

# A prebuilt tree names the DOCDIR it was built for in its messages: refuse
# to install it elsewhere (they would point at files that are not there).
check_prebuilt_docdir = built=$$(cat $(DOCDIR_STAMP) 2>/dev/null); [ "$$built" = '$(DOCDIR)' ] || { \
    echo "install: $(BUILD) was built for DOCDIR=$${built:-?} (its messages name files there), not $(DOCDIR)" >&2; \
    echo "  fix: install with the PREFIX (or DOCDIR) it was built with, or build again: make PREFIX=$(PREFIX)" >&2; \
    exit 2; }

install: $(if $(INSTALL_PREBUILT),,all)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)for f in $(LIB_A) $(LIB_SO) $(INSTALLED_BINS); do \
	    [ -f "$$f" ] || { echo "install: $$f is missing; run make first" >&2; exit 1; }; done
	$(Q)$(check_prebuilt_docdir)
	$(Q)install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/dtrack/precopy $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSTEMDUNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/default $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOC_DIRS))
	$(Q)install -m 0644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/dtrack/
	$(Q)install -m 0644 $(PRECOPY_HEADERS) $(DESTDIR)$(INCLUDEDIR)/dtrack/precopy/
	$(Q)install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(Q)install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	$(Q)ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libdtrack.so
	$(Q)$(call install_filled,lib/dtrack.pc.in,$(DESTDIR)$(PKGCONFIGDIR)/dtrack.pc)
	$(Q)install -m 0755 $(INSTALLED_BINS) $(DESTDIR)$(BINDIR)/
	$(Q)$(foreach m,$(MAN_PAGES),$(call install_filled,$(m),$(DESTDIR)$(MANDIR)/man1/$(notdir $(m))) &&) true
	$(Q)$(foreach f,$(DOC_FILES),install -m 0644 $(f) $(DESTDIR)$(DOCDIR)/$(f) &&) true
	$(Q)$(call install_filled,$(SIDECAR_UNIT),$(DESTDIR)$(SYSTEMDUNITDIR)/dtrack-sidecar.service)
	$(Q)[ -e $(DESTDIR)$(SIDECAR_ENV_INSTALLED) ] || install -m 0644 $(SIDECAR_ENV) $(DESTDIR)$(SIDECAR_ENV_INSTALLED)

# As install, then the installed copies stripped (GNU's install-strip): the
# binaries and libdtrack.so of everything but their symbols' tables,
# libdtrack.a of its debug information.
install-strip: install
	$(call msg,STRIP,$(DESTDIR)$(PREFIX))
	$(Q)strip --strip-unneeded $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALLED_BINS))) \
	    $(DESTDIR)$(LIBDIR)/$(notdir $(LIB_SO))
	$(Q)strip --strip-debug $(DESTDIR)$(LIBDIR)/libdtrack.a

# Removes what install put there; the options file only while it is the one
# shipped (an operator's edits stay, as a package's conffiles do).
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/dtrack/,$(notdir $(PUBLIC_HEADERS))) \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/dtrack/precopy/,$(notdir $(PRECOPY_HEADERS))) \
	    $(DESTDIR)$(LIBDIR)/libdtrack.a $(DESTDIR)$(LIBDIR)/$(notdir $(LIB_SO)) \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libdtrack.so $(DESTDIR)$(PKGCONFIGDIR)/dtrack.pc \
	    $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALLED_BINS))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_PAGES))) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOC_FILES)) $(DESTDIR)$(SYSTEMDUNITDIR)/dtrack-sidecar.service
	$(Q)! cmp -s $(SIDECAR_ENV) $(DESTDIR)$(SIDECAR_ENV_INSTALLED) || rm -f $(DESTDIR)$(SIDECAR_ENV_INSTALLED)
	$(Q)cd $(DESTDIR)$(DOCDIR) 2>/dev/null && rmdir -p $(sort $(DOC_DIRS)) 2>/dev/null; \
	    rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null; true
	$(Q)rmdir $(DESTDIR)$(INCLUDEDIR)/dtrack/precopy $(DESTDIR)$(INCLUDEDIR)/dtrack 2>/dev/null || true

# The suite prints "tests: N passed, N failed" as its last line.
TEST_ARGS ?=
# What the suite runs: the libraries and binaries it installs and starts, not
# the soak and scrape tools (make soak, make bench build those).
TEST_NEEDS = $(LIB_A) $(LIB_SO) $(CLI) $(DTVM) $(TESTS) $(QEMU_GUEST) $(QEMU_NATIVE_GUEST)
test: deps
	$(Q)$(MAKE) --no-print-directory $(TEST_NEEDS)
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
               LSAN_OPTIONS="suppressions=$(abspath tests/lsan.supp):print_suppressions=0:$${LSAN_OPTIONS}" \
               TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:suppressions=$(abspath tests/tsan.supp):$(SAN_LOG):$${TSAN_OPTIONS}"
SAN_RUN     :=

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SANITIZE=address,undefined test
tsan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-tsan SANITIZE=thread test

# The no-lost-page oracle, 20 times longer than in `make test`; then the
# sidecar for SOAK_SECONDS under churning targets, scrape load and hostile
# clients (tools/sidecar_soak/): RSS, files, threads and BPF programs flat,
# every scrape answered, p99 at most 50 ms.
SOAK_SECONDS ?= 600
soak: deps
	$(Q)$(MAKE) --no-print-directory all $(TESTS)
	$(Q)DTRACK_SOAK=20 $(TESTS) --gtest_filter='*Oracle*:RingJam*'
	$(Q)$(SIDECAR_SOAK) --build $(BUILD) --seconds $(SOAK_SECONDS)

# libFuzzer (clang -fsanitize=fuzzer,address) on what reads untrusted bytes:
# the recording reader, dtrack report's analysis and dtrack simulate's
# replay of a recording (the three through a structure-aware mutator that
# mutates a recording's fields and fixes its CRCs: tests/fuzz/
# recording_mutator.hpp), the precopy stream and its page deltas. Each target runs
# FUZZ_SECONDS from its corpus under tests/corpus/ and the seeds in
# FUZZ_SEEDS_<target>, under FUZZ_RSS_MB of memory and FUZZ_TIMEOUT seconds
# an input (a hang bound, for a loaded machine too). Inputs that crash,
# leak, exceed them or hang are written into its corpus as crash-*, which
# fails the run: keep them, renamed (fixed-*) once fixed; `make test`
# replays every corpus.
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB  ?= 1024
FUZZ_TIMEOUT ?= 30
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_CXX     ?= clang++
FUZZ_FLAGS   := -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib/include -Ilib -Iuser -Itests
FUZZ_LIB     := $(addprefix lib/consumers/recording/,format.cpp reader.cpp writer.cpp) \
                $(addprefix lib/consumers/precopy/,wire_format.cpp trace_guest.cpp trace_pending.cpp \
                    trace_release.cpp trace_zero_pages.cpp recording_trace.cpp simulation.cpp round_rates.cpp \
                    page_bytes_model.cpp \
                    page_delta.cpp batch_compression.cpp \
                    simulated_vcpus.cpp simulated_dirty_limit.cpp trace_vcpus.cpp) \
                $(addprefix lib/consumers/policies/,throttle.cpp convergence_trigger.cpp hot_page_deferral.cpp \
                    dirty_limit.cpp) \
                $(addprefix lib/common/,error.cpp units.cpp) \
                $(addprefix lib/engine/,tracker.cpp dirty_bitmap.cpp rounds.cpp watcher.cpp) \
                user/report/report_analysis.cpp user/report/report_range_counters.cpp
FUZZ_TARGETS := recording_reader report_analysis trace_guest precopy_wire page_delta
FUZZ_CORPUS_recording_reader := tests/corpus/recording
FUZZ_CORPUS_report_analysis  := tests/corpus/report
FUZZ_CORPUS_trace_guest      := tests/corpus/trace
FUZZ_CORPUS_precopy_wire     := tests/corpus/precopy
FUZZ_CORPUS_page_delta       := tests/corpus/page_delta
FUZZ_SEEDS_report_analysis   := tests/corpus/recording
FUZZ_SEEDS_trace_guest       := tests/corpus/recording

FUZZ_OBJS    := $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(FUZZ_LIB))
FUZZ_HEADERS := $(wildcard lib/include/dtrack/*.hpp lib/include/dtrack/precopy/*.hpp lib/consumers/*/*.hpp \
                    lib/common/*.hpp user/report/report_*.hpp tests/fuzz/*.hpp tests/support/precopy_parse.hpp)

.SECONDARY: $(FUZZ_OBJS)
$(FUZZ_BUILD)/%.o: %.cpp $(FUZZ_HEADERS)
	$(Q)mkdir -p $(@D)
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -c -o $@ $<

$(FUZZ_BUILD)/%_fuzz: tests/fuzz/%_fuzz.cpp $(FUZZ_OBJS) $(FUZZ_HEADERS)
	$(Q)mkdir -p $(@D)
	$(call msg,FUZZ,$@)
	$(Q)$(FUZZ_CXX) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_OBJS) -lz -lzstd -pthread

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(addprefix $(FUZZ_BUILD)/,$(addsuffix _fuzz,$(FUZZ_TARGETS)))
	$(Q)$(foreach t,$(FUZZ_TARGETS),$(call fuzz_one,$(t)) &&) true

# One target: FUZZ_SECONDS from its corpus (FUZZ_CORPUS_<t>) and its seeds
# (FUZZ_SEEDS_<t>); fails when a crash-* input is left in the corpus.
fuzz_one = mkdir -p $(FUZZ_BUILD)/$(1).new && \
	echo "fuzz: $(1) for $(FUZZ_SECONDS) s (corpus $(FUZZ_CORPUS_$(1)) $(FUZZ_SEEDS_$(1)))" && \
	{ $(FUZZ_BUILD)/$(1)_fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=$(FUZZ_RSS_MB) \
	    -timeout=$(FUZZ_TIMEOUT) -artifact_prefix=$(FUZZ_CORPUS_$(1))/crash- -print_final_stats=1 \
	    $(FUZZ_BUILD)/$(1).new $(FUZZ_CORPUS_$(1)) $(FUZZ_SEEDS_$(1)) 2>&1 \
	  | grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|\#[0-9]+[[:space:]]+DONE|==[0-9]+==ERROR|SUMMARY)' \
	  || true; } && \
	if ls $(FUZZ_CORPUS_$(1))/crash-* >/dev/null 2>&1; then \
	    echo "fuzz: $(1) found crashes: $$(ls $(FUZZ_CORPUS_$(1))/crash-*)"; false; fi

# make bench: the headline figures in under 10 minutes: the micro-benchmarks
# (one table of ratios and figures with their targets), what each tracking
# source costs per sync and per guest write, what `dtrack rate` costs per
# method, the sidecar under 1,000 scrapes, a scaled-down migration with and
# without the background sync, the per-vCPU dirty limit against
# auto-converge and neither at one point, one run each, and issue 24's five
# migration policies on two workloads, one run each (~3 min).
# make bench-full: the same, with the migration at full scale (rounds of ~8 s
# against the default 5 s threshold; a few minutes) simulated beside it,
# the dirty limit at every point, 3 runs each, on both backends (~15 min per
# backend), and the policies on every workload, 3 runs each (~45 min more). KVM where /dev/kvm works, and dtvm's process
# backend everywhere for the dirty limit, else the process backend only.
# A part that cannot reach its figure says so and the others still run
# (tools/bench/all.sh). BENCHMARKS.md holds a full run.
bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH)
	$(Q)./tools/bench/all.sh $(BUILD) quick

bench-full: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH)
	$(Q)./tools/bench/all.sh $(BUILD) full

run: deps
	$(Q)$(MAKE) --no-print-directory all $(QEMU_GUEST) $(QEMU_NATIVE_GUEST)
	$(Q)./tools/demo/demo.sh $(BUILD)

# The style (.clang-format; bpf/.clang-format for the BPF programs): `make
# format` applies it to every tracked C and C++ file, `make format-check`
# (and CodeShape.EverySourceFileIsAsClangFormatLeavesIt) fails where a file
# differs from it.
FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp' '*.h' '*.c')
format:
	$(Q)clang-format -i $(FORMAT_FILES)
format-check:
	$(Q)clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
