# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# fixtures.mk - builds the symbolizer unit-test fixtures into .output/fixtures/;
# included by the Makefile, which builds $(FIXTURES) for `make test`.
FIX_DIR := $(OUTPUT)/fixtures
FIX_SRC := tests/unit/fixtures
OBJCOPY ?= objcopy
STRIP ?= strip
# Fixed flags, independent of CFLAGS/SANITIZE: the tests expect this code shape.
FIX_CFLAGS := -g -fno-omit-frame-pointer -Wl,--build-id

FIXTURES := $(addprefix $(FIX_DIR)/,basic_pie basic_nopie basic_stripped \
	basic_stripped.debug basic_zstripped basic_zstripped.debug inline_o2 libfix.so child_pie child_nopie \
	basic.c inline.c libfix.c child.c cxx_fix)

$(FIX_DIR):
	$(Q)mkdir -p $@

# The tests read the /* LINE:name */ markers from these copies.
$(FIX_DIR)/%.c: $(FIX_SRC)/%.c | $(FIX_DIR)
	$(Q)cp $< $@

$(FIX_DIR)/basic_pie: $(FIX_SRC)/basic.c | $(FIX_DIR)
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fPIE -pie $< -o $@

$(FIX_DIR)/basic_nopie: $(FIX_SRC)/basic.c | $(FIX_DIR)
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fno-pie -no-pie $< -o $@

# Stripped of every symbol; names and lines only reachable via .gnu_debuglink.
$(FIX_DIR)/basic_stripped $(FIX_DIR)/basic_stripped.debug &: $(FIX_SRC)/basic.c | $(FIX_DIR)
	$(call msg,FIXTURE,$(FIX_DIR)/basic_stripped)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fPIE -pie $< -o $(FIX_DIR)/basic_stripped.full
	$(Q)$(OBJCOPY) --only-keep-debug $(FIX_DIR)/basic_stripped.full $(FIX_DIR)/basic_stripped.debug
	$(Q)$(STRIP) --strip-all -o $(FIX_DIR)/basic_stripped.tmp $(FIX_DIR)/basic_stripped.full
	$(Q)$(OBJCOPY) --add-gnu-debuglink=$(FIX_DIR)/basic_stripped.debug \
		$(FIX_DIR)/basic_stripped.tmp $(FIX_DIR)/basic_stripped
	$(Q)rm -f $(FIX_DIR)/basic_stripped.full $(FIX_DIR)/basic_stripped.tmp

# The same with its debug file's DWARF compressed (as Debian's -dbg packages ship it).
$(FIX_DIR)/basic_zstripped $(FIX_DIR)/basic_zstripped.debug &: $(FIX_SRC)/basic.c | $(FIX_DIR)
	$(call msg,FIXTURE,$(FIX_DIR)/basic_zstripped)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fPIE -pie $< -o $(FIX_DIR)/basic_zstripped.full
	$(Q)$(OBJCOPY) --only-keep-debug --compress-debug-sections=zlib \
		$(FIX_DIR)/basic_zstripped.full $(FIX_DIR)/basic_zstripped.debug
	$(Q)$(STRIP) --strip-all -o $(FIX_DIR)/basic_zstripped.tmp $(FIX_DIR)/basic_zstripped.full
	$(Q)$(OBJCOPY) --add-gnu-debuglink=$(FIX_DIR)/basic_zstripped.debug \
		$(FIX_DIR)/basic_zstripped.tmp $(FIX_DIR)/basic_zstripped
	$(Q)rm -f $(FIX_DIR)/basic_zstripped.full $(FIX_DIR)/basic_zstripped.tmp

$(FIX_DIR)/inline_o2: $(FIX_SRC)/inline.c | $(FIX_DIR)
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O2 $< -o $@

$(FIX_DIR)/libfix.so: $(FIX_SRC)/libfix.c | $(FIX_DIR)
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fPIC -shared $< -o $@

$(FIX_DIR)/child_pie: $(FIX_SRC)/child.c $(FIX_DIR)/libfix.so
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fPIE -pie $< -o $@ -L$(FIX_DIR) -lfix -Wl,-rpath,'$$ORIGIN'

$(FIX_DIR)/child_nopie: $(FIX_SRC)/child.c $(FIX_DIR)/libfix.so
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) $(FIX_CFLAGS) -O0 -fno-pie -no-pie $< -o $@ -L$(FIX_DIR) -lfix \
		-Wl,-rpath,'$$ORIGIN'

# Mangled names: C++ (namespace, template, lambda) and Rust-style labels.
$(FIX_DIR)/cxx_fix: $(FIX_SRC)/cxx.cc | $(FIX_DIR)
	$(call msg,FIXTURE,$@)
	$(Q)$(CXX) $(FIX_CFLAGS) -O0 $< -o $@
