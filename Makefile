# SPDX-License-Identifier: MIT
# steer: eBPF endpoint steering for Kubernetes.
# Layout follows libbpf-bootstrap's examples/c/Makefile: output in build/,
# BPF objects embedded through bpftool skeletons, V=1 for full commands.

OUTPUT   := build
CLANG    ?= clang
CC       ?= gcc
BPFTOOL  ?= bpftool
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

PKGS     := libbpf libelf zlib libcurl libcjson yaml-0.1
# steerctl: the ABI, the map layer and agent/lib only, so no libcurl or libyaml.
CTL_PKGS := libbpf libelf zlib libcjson
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CTL_LIBS   = $(shell pkg-config --libs $(CTL_PKGS) 2>/dev/null) -lm

CFLAGS   ?= -g -O2
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
INCLUDES := -Iinclude -Iagent -I$(OUTPUT)
# Every object records the headers it read (-MMD), so a header change
# rebuilds exactly what includes it.
DEPFLAGS  = -MMD -MP
ALL_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE $(DEFINES) $(INCLUDES) $(PKG_CFLAGS)
LDLIBS   = $(PKG_LIBS) -lm

# HAVE_LIBBPF_* for the optional libbpf functions (tools/configure.sh).
CONFIG   := $(OUTPUT)/config.mk
ifeq ($(filter clean help,$(MAKECMDGOALS)),)
-include $(CONFIG)
endif
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# System includes go after the BPF target's, so asm/types.h resolves on
# Debian's multiarch layout.
CLANG_BPF_SYS_INCLUDES = $(shell $(CLANG) -v -E - </dev/null 2>&1 | \
	sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ibpf $(CLANG_BPF_SYS_INCLUDES)

BPF_SRCS  := $(wildcard bpf/*.bpf.c) $(wildcard tests/bpf/*.bpf.c)
BPF_OBJS  := $(patsubst %.bpf.c,$(OUTPUT)/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS     := $(patsubst %.bpf.c,$(OUTPUT)/%.skel.h,$(notdir $(BPF_SRCS)))

LIB_SRCS  := $(wildcard agent/*.c agent/*/*.c)
LIB_SRCS  := $(filter-out agent/main.c,$(LIB_SRCS))
LIB_OBJS  := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(LIB_SRCS))
ASAN_OBJS := $(patsubst %.c,$(OUTPUT)/asan/%.o,$(LIB_SRCS))
# steerctl's whole world: its own files, the shared plumbing, the map layer.
CTL_SRCS  := $(wildcard tools/steerctl/*.c) $(wildcard agent/lib/*.c) \
	     agent/datapath/maps.c agent/datapath/cleanup.c
CTL_OBJS  := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(CTL_SRCS))

# The test double and other helpers of the unit tests and the benchmark.
TLIB_SRCS := $(wildcard tests/lib/*.c)
TLIB_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(TLIB_SRCS))
TLIB_ASAN := $(patsubst %.c,$(OUTPUT)/asan/%.o,$(TLIB_SRCS))

TEST_SRCS := $(wildcard tests/unit/test_*.c)
TESTS     := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(TEST_SRCS))
ASAN_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/asan/tests/%,$(TEST_SRCS))

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS   := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS := $(patsubst %.c,$(OUTPUT)/fuzzobj/%.o,$(LIB_SRCS))
FUZZ_CFLAGS = -g -O1 $(WARN) -std=gnu11 -D_GNU_SOURCE $(DEFINES) $(INCLUDES) $(PKG_CFLAGS)
FUZZ_SAN  := -fsanitize=fuzzer-no-link,address,undefined

DEPS := $(shell find $(OUTPUT) -name '*.d' -type f 2>/dev/null)
-include $(DEPS)

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all deps kube check check-kernels test-bins demo bench fuzz clean help format

all: deps $(OUTPUT)/steerd $(OUTPUT)/steerctl

help:
	@echo 'make            build build/steerd and build/steerctl'
	@echo 'make kube       build the real control plane (tools/kube) into build/kube/'
	@echo 'make check      build and run every test (needs root)'
	@echo 'make check-kernels  the kernel-facing tests on each kernel of tests/kernels/kernels.list'
	@echo 'make demo       boot the cluster in a box and show a quarantine drain'
	@echo 'make bench      run the benchmarks, write bench/results.json and the plot'
	@echo 'make fuzz       run the fuzz targets for longer (FUZZ_SECONDS=60)'
	@echo 'make clean      remove build/'
	@echo 'V=1             print full commands'

# Installs missing Debian packages; a stamp keeps it to one check per build.
deps: $(OUTPUT)/.deps
$(OUTPUT)/.deps: tools/bootstrap.sh | $(OUTPUT)
	$(call msg,DEPS,debian packages)
	$(Q)tools/bootstrap.sh
	$(Q)touch $@

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/tests $(OUTPUT)/asan/tests $(OUTPUT)/fuzz:
	$(Q)mkdir -p $@

$(CONFIG): tools/configure.sh $(OUTPUT)/.deps | $(OUTPUT)
	$(call msg,CONFIG,$@)
	$(Q)tools/configure.sh $@ "$(CC)" "$(shell pkg-config --cflags libbpf)" \
		"$(shell pkg-config --libs libbpf)"

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(OUTPUT)/.deps | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/%.bpf.o: tests/bpf/%.bpf.c $(OUTPUT)/.deps | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# The skeletons exist before the first compile; after it, -MMD knows who needs them.
$(OUTPUT)/obj/tests/%.o $(OUTPUT)/obj/bench/%.o $(OUTPUT)/asan/tests/%.o \
	$(OUTPUT)/fuzzobj/tests/%.o: INCLUDES += -Itests/lib

$(OUTPUT)/obj/%.o: %.c $(CONFIG) | $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/asan/%.o: %.c $(CONFIG) | $(SKELS)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/fuzzobj/%.o: %.c $(CONFIG) | $(SKELS)
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SAN) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/libsteer.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/libsteer-asan.a: $(ASAN_OBJS)
	$(call msg,AR,$@)
	$(Q)$(AR) rcs $@ $^

$(OUTPUT)/steerd: $(OUTPUT)/obj/agent/main.o $(OUTPUT)/libsteer.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/steerctl: $(CTL_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(CTL_LIBS) -o $@

$(OUTPUT)/tests/%: $(OUTPUT)/obj/tests/unit/%.o $(OUTPUT)/obj/tests/unit/harness.o \
		$(TLIB_OBJS) $(OUTPUT)/libsteer.a | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/asan/tests/%: $(OUTPUT)/asan/tests/unit/%.o $(OUTPUT)/asan/tests/unit/harness.o \
		$(TLIB_ASAN) $(OUTPUT)/libsteer-asan.a | $(OUTPUT)/asan/tests
	$(call msg,LINK-SAN,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN) $^ $(LDLIBS) -o $@

# libFuzzer targets link the library objects built with the fuzzer's instrumentation.
$(OUTPUT)/fuzz/%: $(OUTPUT)/fuzzobj/tests/fuzz/%.o $(FUZZ_OBJS) \
		$(patsubst %.c,$(OUTPUT)/fuzzobj/%.o,$(TLIB_SRCS)) | $(OUTPUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -fsanitize=fuzzer,address,undefined $^ $(LDLIBS) -o $@

# Control-plane benchmark: bench_control OUT.jsonl [MAX_PODS].
$(OUTPUT)/bench_control: $(OUTPUT)/obj/bench/bench_control.o $(TLIB_OBJS) $(OUTPUT)/libsteer.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Only the datapath objects: the benchmark does not depend on the control plane.
BENCH_DP_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(wildcard agent/datapath/*.c agent/lib/*.c))
$(OUTPUT)/bench_datapath: $(OUTPUT)/obj/bench/datapath.o $(BENCH_DP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The box's real Kubernetes (tools/kube, release pinned in its go.mod): Go's
# own cache makes a rebuild cheap; a cold one prints progress every 10 s.
KUBE_SRCS := $(wildcard tools/kube/*.go) tools/kube/go.mod tools/kube/go.sum \
	tools/kube/build.sh
kube: $(OUTPUT)/kube/kube
$(OUTPUT)/kube/kube: $(KUBE_SRCS)
	$(call msg,GO,$@)
	$(Q)tools/kube/build.sh $@

test-bins: all kube $(TESTS) $(ASAN_TESTS) $(FUZZERS)

check: test-bins
	$(Q)tests/run

# Boots each kernel under qemu; KERNELS="5.10 running" picks some.
check-kernels: test-bins
	$(Q)tests/run kernels/test_matrix

fuzz: $(FUZZERS)
	$(Q)tests/fuzz/run $(or $(FUZZ_SECONDS),60)

demo: all
	$(Q)$(MAKE) --no-print-directory kube || \
		echo 'demo: no real control plane (Go or its modules missing): on the simulator'
	$(Q)tools/cluster/demo.sh

bench: all $(OUTPUT)/bench_control
	$(Q)bench/run

format:
	$(Q)clang-format -i $(wildcard agent/*.[ch] agent/*/*.[ch] bpf/*.c bpf/lib/*.h \
		include/steer/*.h tools/steerctl/*.[ch] tests/unit/*.[ch] tests/lib/*.[ch])

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)
