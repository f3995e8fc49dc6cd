# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# fuzz.mk - `make fuzz`: builds the libFuzzer target over the symbolizer's
# ELF/DWARF path with clang (ASan+UBSan) and runs it for FUZZ_SECONDS on a
# seed corpus made from the unit-test fixtures (whole and cut short).
# Included by the Makefile; crashes land in .output/fuzz/crash-*.  Leaks
# inside elfutils itself are suppressed (tests/fuzz/lsan.supp).
FUZZ_DIR := $(OUTPUT)/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SRCS := tests/fuzz/fuzz_elf.c $(wildcard symbolizer/*.c) util/log.c util/file.c
FUZZ_SEEDS := basic_pie basic_nopie basic_stripped basic_stripped.debug inline_o2 \
	libfix.so cxx_fix

.PHONY: fuzz

$(FUZZ_DIR)/fuzz_elf: $(FUZZ_SRCS) $(wildcard symbolizer/*.h) tests/fuzz/fuzz.mk
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
		-Wall -Wextra -D_GNU_SOURCE -Isymbolizer -Iutil $(FUZZ_SRCS) \
		$(shell pkg-config --cflags --libs libelf libdw zlib libdebuginfod 2>/dev/null) \
		-liberty -lpthread -o $@

# Seeds: each fixture whole and cut at a few sizes, so headers, section
# tables and DWARF all start out both intact and truncated.
$(FUZZ_DIR)/seeds: $(addprefix $(FIX_DIR)/,$(FUZZ_SEEDS)) tests/fuzz/fuzz.mk
	$(Q)rm -rf $@ && mkdir -p $@
	$(Q)for f in $(FUZZ_SEEDS); do \
		cp $(FIX_DIR)/$$f $@/$$f; \
		for n in 64 1024 4096 12000; do head -c $$n $(FIX_DIR)/$$f > $@/$$f.$$n; done; \
	done

fuzz: $(FUZZ_DIR)/fuzz_elf $(FUZZ_DIR)/seeds
	$(Q)mkdir -p $(FUZZ_DIR)/corpus
	$(Q)LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp $(FUZZ_DIR)/fuzz_elf -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix=$(FUZZ_DIR)/ -print_final_stats=1 \
		$(FUZZ_DIR)/corpus $(FUZZ_DIR)/seeds
