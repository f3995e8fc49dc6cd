# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# fuzz.mk - the libFuzzer targets, built with clang (ASan+UBSan): fuzz_elf
# over the symbolizer's ELF/DWARF path, fuzz_unwind over the unwind table
# builder.  `make fuzz` runs each for FUZZ_SECONDS; `make test` runs both
# for FUZZ_TEST_SECONDS in all (tests/fuzz/run.sh, one PASS/FAIL line each).
# Seed corpora come from the unit-test fixtures (whole and cut short) and,
# for fuzz_unwind, the workloads' libraries and a raw .eh_frame.  Included
# by the Makefile; crashes land in .output/fuzz/crash-*.  Leaks inside
# elfutils itself are suppressed (tests/fuzz/lsan.supp).
FUZZ_DIR := $(OUTPUT)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TEST_SECONDS ?= 15
FUZZ_TARGETS := $(FUZZ_DIR)/fuzz_elf $(FUZZ_DIR)/fuzz_unwind
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	-Wall -Wextra -D_GNU_SOURCE
FUZZ_LIBS = $(shell pkg-config --cflags --libs libelf libdw zlib 2>/dev/null) \
	$(shell pkg-config --cflags libdebuginfod 2>/dev/null)
FUZZ_SRCS := tests/fuzz/fuzz_elf.c $(wildcard symbolizer/*.c) util/log.c util/file.c util/procmaps.c \
	util/dlib.c
FUZZ_UNWIND_SRCS := tests/fuzz/fuzz_unwind.c $(wildcard unwind/*.c) util/file.c
FUZZ_SEEDS := basic_pie basic_nopie basic_stripped basic_stripped.debug inline_o2 \
	libfix.so cxx_fix

.PHONY: fuzz

$(FUZZ_DIR)/fuzz_elf: $(FUZZ_SRCS) $(wildcard symbolizer/*.h) tests/fuzz/fuzz.mk
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Isymbolizer -Iutil $(FUZZ_SRCS) $(FUZZ_LIBS) \
		-liberty -lbpf -lpthread -o $@

$(FUZZ_DIR)/fuzz_unwind: $(FUZZ_UNWIND_SRCS) $(wildcard unwind/*.h) tests/fuzz/fuzz.mk
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -Iunwind -Iutil $(FUZZ_UNWIND_SRCS) $(FUZZ_LIBS) -o $@

# Seeds: each fixture whole and cut at a few sizes, so headers, section
# tables and DWARF all start out both intact and truncated.
$(FUZZ_DIR)/seeds: $(addprefix $(FIX_DIR)/,$(FUZZ_SEEDS)) tests/fuzz/fuzz.mk
	$(Q)rm -rf $@ && mkdir -p $@
	$(Q)for f in $(FUZZ_SEEDS); do \
		cp $(FIX_DIR)/$$f $@/$$f; \
		for n in 64 1024 4096 12000; do head -c $$n $(FIX_DIR)/$$f > $@/$$f.$$n; done; \
	done

# fuzz_unwind: the same files, the dl_spin libraries, and an .eh_frame alone
# (an input without the ELF magic is taken as .eh_frame bytes).
$(FUZZ_DIR)/seeds_unwind: $(FUZZ_DIR)/seeds $(OUTPUT)/workloads/libdl_spin.so \
		$(OUTPUT)/workloads/libdl_badreg.so tests/fuzz/fuzz.mk
	$(Q)rm -rf $@ && cp -r $(FUZZ_DIR)/seeds $@
	$(Q)cp $(OUTPUT)/workloads/libdl_spin.so $(OUTPUT)/workloads/libdl_badreg.so $@/
	$(Q)objcopy -O binary --only-section=.eh_frame $(OUTPUT)/workloads/libdl_spin.so \
		$@/dl_spin.eh_frame

fuzz: $(FUZZ_TARGETS) $(FUZZ_DIR)/seeds $(FUZZ_DIR)/seeds_unwind
	$(Q)bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_SECONDS)
