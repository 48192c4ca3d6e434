# SPDX-License-Identifier: GPL-2.0
#
# make              build the library and every test (static, non-PIE)
# make run_tests    set up what is missing, build, run the suite
# make check        the project's own checks: unit tests, runner tests,
#                   the suite and its negative controls inside booted kernels
# make bench        the interrupt-path benchmarks (bench/README.md)
# make install INSTALL_PATH=DIR   kselftest-style install tree
# make deps         install Debian packages and fetch the kselftest headers
#
# KDIR=/path/to/linux  use that tree's usr/include (after `make headers`)
#                      and tools/testing/selftests instead of Debian's.
# KSFT_DIR=DIR         only the kselftest headers from DIR (a kernel tree's
#                      tools/testing/selftests); the system's linux/kvm.h.
# What the harness offers is probed (scripts/harness-features), so any
# kernel's headers build: CI builds with 6.1's, 6.12's and unstable's.

OUTPUT ?= $(CURDIR)/build
APICV_CACHE ?= $(or $(shell printenv APICV_CACHE),$(HOME)/.cache/apicv-selftests)
export APICV_CACHE

ifneq ($(KDIR),)
KSFT_DIR ?= $(KDIR)/tools/testing/selftests
UAPI_INC := -isystem $(KDIR)/usr/include
else
KSFT_DIR ?= $(APICV_CACHE)/source/debian-6.1/tools/testing/selftests
UAPI_INC :=
endif

CC ?= gcc
# Guest code shares the binary: no red zone (interrupts push on the same
# stack), no stack protector or TLS, fixed link addresses.
CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wshadow -Werror -Wno-unused-parameter \
	-fno-stack-protector -fno-pie -mno-red-zone -fno-omit-frame-pointer \
	-fno-strict-aliasing -D_GNU_SOURCE $(UAPI_INC) -I$(CURDIR)/include \
	-I$(KSFT_DIR) -I$(OUTPUT) $(EXTRA_CFLAGS)
LDFLAGS := -static -no-pie -pthread
LDLIBS :=

LIB_SRCS := $(wildcard lib/*.c lib/x86/*.c lib/x86/*.S)
LIB_OBJS := $(patsubst %,$(OUTPUT)/%.o,$(basename $(LIB_SRCS)))
LIBRARY := $(OUTPUT)/libapicv.a
TESTS := $(patsubst x86/%.c,$(OUTPUT)/x86/%,$(wildcard x86/*_test.c))
# The library's own tests: the runner reports them apart from KVM's.
LIBTESTS := $(patsubst libtest/%.c,$(OUTPUT)/libtest/%,$(wildcard libtest/*_test.c))
TOOLS := $(OUTPUT)/tools/kvm_info $(OUTPUT)/tools/kvm_keeper \
	$(OUTPUT)/tools/e9_console
BENCHES := $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(wildcard bench/*.c))
# What the kselftest harness in use offers, probed by compiling against it.
FEATURES := $(OUTPUT)/harness_features.h
HEADERS := $(wildcard include/*.h include/*.def include/x86/*.h) $(FEATURES)
# The emulator's exit codes and budgets (include/emulator.h), NAME=value
# lines the runner sources: it never spells a number the C side defines.
EMULATOR_ENV := $(OUTPUT)/emulator.env

.PHONY: all bench run_tests check install clean deps headers-check
all: headers-check $(TESTS) $(LIBTESTS) $(TOOLS) $(BENCHES) $(EMULATOR_ENV)
bench: headers-check $(BENCHES)

headers-check:
	@test -f $(KSFT_DIR)/kselftest_harness.h || { \
	  echo "error: $(KSFT_DIR)/kselftest_harness.h missing;" \
	       "run 'scripts/setup' (or 'make deps'), or pass KDIR=<linux tree>" >&2; \
	  exit 1; }
	@test -z "$(KDIR)" -o -f "$(KDIR)/usr/include/linux/kvm.h" || { \
	  echo "error: $(KDIR)/usr/include/linux/kvm.h missing;" \
	       "run 'make headers' in $(KDIR)" >&2; \
	  exit 1; }

Q := $(if $(V),,@)

# Probed on every make; rewritten (and everything rebuilt) only when the
# answer changes, e.g. after KSFT_DIR= names another tree.
$(FEATURES): scripts/harness-features headers-check
	@mkdir -p $(dir $@)
	$(Q)scripts/harness-features $(KSFT_DIR) $@.tmp $(CC) $(UAPI_INC)
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(EMULATOR_ENV): include/emulator.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -E -dM $< | \
	  sed -n 's/^#define \(EMU_[A-Z_]*\) \([0-9][0-9]*\)$$/\1=\2/p' | sort >$@.tmp
	$(Q)test -s $@.tmp && mv $@.tmp $@

$(OUTPUT)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/%.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# The mem* replacements must not be turned back into calls to themselves.
$(OUTPUT)/lib/string.o: CFLAGS += -fno-builtin -fno-tree-loop-distribute-patterns

# Made anew: ar keeps members whose sources are gone.
$(LIBRARY): $(LIB_OBJS)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

# lib/string.o goes first so its mem* replace libc's everywhere. The
# harness's EXPECT_EQ(1, u64) compares a literal's type: no sign-compare.
$(OUTPUT)/x86/%: x86/%.c $(LIBRARY) $(HEADERS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -Wno-sign-compare $(LDFLAGS) -o $@ $(OUTPUT)/lib/string.o $< $(LIBRARY) $(LDLIBS)

$(OUTPUT)/libtest/%: libtest/%.c $(LIBRARY) $(HEADERS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -DAPICV_LIBTEST -Wno-sign-compare $(LDFLAGS) -o $@ $(OUTPUT)/lib/string.o $< $(LIBRARY) $(LDLIBS)

$(OUTPUT)/tools/%: scripts/tools/%.c $(LIBRARY) $(HEADERS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OUTPUT)/lib/string.o $< $(LIBRARY) $(LDLIBS)

$(OUTPUT)/bench/%: bench/%.c $(LIBRARY) $(HEADERS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) -Wno-sign-compare $(LDFLAGS) -o $@ $(OUTPUT)/lib/string.o $< $(LIBRARY) $(LDLIBS) -lm

deps:
	scripts/setup

run_tests:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	./run_tests.sh $(RUN_FLAGS)

check:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	scripts/check/run $(CHECK_FLAGS)

install: all
	scripts/install.sh "$(INSTALL_PATH)"

clean:
	rm -rf $(OUTPUT)
