# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# Makefile - builds ember, its BPF object and tests; everything lands in .output/
OUTPUT := .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := x86

# What building ember needs (`make run` installs only these on a host)...
BUILD_DEBS := clang llvm libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev \
	libsqlite3-dev libmicrohttpd-dev pkg-config make gcc binutils xxd \
	libiberty-dev libdebuginfod-dev libcurl4-openssl-dev adduser
# ...and what only the tests and benches need (perf for ground truth,
# go tool pprof, Chromium, a debuginfod server, the kernel VMs, promtool).
TEST_DEBS := python3 linux-perf procps util-linux golang-go chromium prometheus \
	debuginfod g++ qemu-system-x86 busybox-static python3.11 debian-archive-keyring sqlite3
# ...and what `make deb` needs besides building (tests/pkg/ runs lintian too).
DEB_DEBS := debhelper dpkg-dev lintian
DEB_VERSION = $(shell dpkg-parsechangelog -S Version -l debian/changelog 2>/dev/null)

PKGS := libbpf libelf libdw zlib sqlite3
# Headers only: ember dlopen()s these when --push or a debuginfod URL needs
# them (util/dlib.c), so other runs never map them and what they pull in.
DLOPEN_PKGS := libdebuginfod libcurl
CFLAGS ?= -g -O2 -fno-omit-frame-pointer
WARN := -Wall -Wextra -Werror -Wmissing-field-initializers -Werror=undef
INCLUDES := -I$(OUTPUT) -Ibpf -Icollector -Isymbolizer -Istore -Iunwind -Iutil -Iexport -Ipush -Icmd
ALL_CFLAGS = $(CFLAGS) $(WARN) $(INCLUDES) -MMD -MP -D_GNU_SOURCE \
	$(shell pkg-config --cflags $(PKGS) $(DLOPEN_PKGS) 2>/dev/null)
LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -liberty -lpthread
ifeq ($(SANITIZE),1)
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LIB_SRCS := $(wildcard util/*.c symbolizer/*.c store/*.c unwind/*.c collector/*.c export/*.c \
	push/*.c) \
	$(filter-out cmd/main.c,$(wildcard cmd/*.c))
LIB_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(LIB_SRCS))
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(wildcard tests/workloads/*.c)) \
	$(patsubst tests/workloads/%.cc,$(OUTPUT)/workloads/%,$(wildcard tests/workloads/*.cc)) \
	$(OUTPUT)/workloads/libdl_spin.so $(OUTPUT)/workloads/libdl_bomb.so \
	$(OUTPUT)/workloads/libdl_badreg.so
UNIT_SRCS := $(wildcard tests/unit/*.c)

.DELETE_ON_ERROR:
.SECONDARY: $(OUTPUT)/profile.bpf.o $(OUTPUT)/probe.bpf.o
.PHONY: all deps test-deps test run bench clean deb

all: $(OUTPUT)/ember

# Installs only what is missing (one apt-get update), so a fully
# provisioned machine does nothing.  $(1): packages; $(2): "npm" to want npm too.
install_missing = missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ "$(2)" = npm ] && ! command -v npm >/dev/null; then missing="$$missing nodejs npm"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The system user the agent's UI process becomes when the agent runs as
# root, made as the package's postinst makes it; without it the UI keeps
# uid 0 (without capabilities) and the agent warns.
ember_user = getent passwd ember >/dev/null || { [ "$$(id -u)" -ne 0 ] || \
		adduser --system --group --quiet --home /var/lib/ember --no-create-home \
			--gecos "ember profiler" ember; }

deps:
	@$(call install_missing,$(BUILD_DEBS))
	@$(ember_user)

test-deps:
	@$(call install_missing,$(BUILD_DEBS) $(TEST_DEBS) $(DEB_DEBS),npm)
	@$(ember_user)

$(OUTPUT) $(OUTPUT)/workloads:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) unwind/unwind_abi.h $(OUTPUT)/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -Ibpf \
		-c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OUTPUT)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# collector/internal.h includes the skeletons
$(patsubst %.c,$(OUTPUT)/%.o,$(wildcard collector/*.c)): $(OUTPUT)/profile.skel.h $(OUTPUT)/probe.skel.h

$(OUTPUT)/ember: $(OUTPUT)/cmd/main.o $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Workloads keep frame pointers even in leaves so FP walks see every caller,
# and have a build id, which exports must carry (tests/e2e/test_export.py).
$(OUTPUT)/workloads/%: tests/workloads/%.c | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O0 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wl,--build-id $< \
		-o $@ -lpthread

# The library dl_spin dlopen()s: same source, built as a shared object.
$(OUTPUT)/workloads/libdl_spin.so: tests/workloads/dl_spin.c | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O0 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wl,--build-id \
		-DDL_SPIN_LIB -shared -fPIC $< -o $@

# libdl_spin.so plus crafted CFI: one FDE of CFI_BOMB_ROWS rows (a nop and a
# CFA change each), which libdw decodes from the FDE's start for every row:
# quadratic, so only the build budget (unwind/unwind.h) ends it.
CFI_BOMB_ROWS ?= 100000
$(OUTPUT)/workloads/libdl_bomb.so: tests/workloads/dl_spin.c Makefile | $(OUTPUT)/workloads
	$(call msg,GEN,$@)
	$(Q)awk -v n=$(CFI_BOMB_ROWS) 'BEGIN { print ".text\n.globl cfi_bomb\n.type cfi_bomb,@function\ncfi_bomb:\n.cfi_startproc"; \
		for (i = 0; i < n; i++) print "nop\n.cfi_adjust_cfa_offset " (i % 2 ? -8 : 8); \
		print "ret\n.cfi_endproc\n.size cfi_bomb, .-cfi_bomb\n.section .note.GNU-stack,\"\",@progbits" }' \
		> $(OUTPUT)/workloads/cfi_bomb.s
	$(Q)$(CC) -g -O0 -fno-omit-frame-pointer -Wl,--build-id -DDL_SPIN_LIB -shared -fPIC $< \
		$(OUTPUT)/workloads/cfi_bomb.s -o $@

# libdl_spin.so plus one CFA rule for DWARF register 250,000,000: libdw
# would grow the frame to that many rules (4 GiB); the builder rejects it.
$(OUTPUT)/workloads/libdl_badreg.so: tests/workloads/dl_spin.c Makefile | $(OUTPUT)/workloads
	$(call msg,GEN,$@)
	$(Q)printf '%s\n' .text .globl\ cfi_badreg .type\ cfi_badreg,@function cfi_badreg: \
		.cfi_startproc nop .cfi_offset\ 250000000,\ -16 nop ret .cfi_endproc \
		'.section .note.GNU-stack,"",@progbits' > $(OUTPUT)/workloads/cfi_badreg.s
	$(Q)$(CC) -g -O0 -fno-omit-frame-pointer -Wl,--build-id -DDL_SPIN_LIB -shared -fPIC $< \
		$(OUTPUT)/workloads/cfi_badreg.s -o $@

# C++ workloads, built the same way.
$(OUTPUT)/workloads/%: tests/workloads/%.cc | $(OUTPUT)/workloads
	$(call msg,CXX,$@)
	$(Q)$(CXX) -g -O0 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -Wl,--build-id $< \
		-o $@ -lpthread

# nofp_* workloads are built the way distributions build: no frame pointers.
$(OUTPUT)/workloads/nofp_%: tests/workloads/nofp_%.c | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -g -O2 -fomit-frame-pointer -Wl,--build-id $< -o $@ -lpthread

$(OUTPUT)/unit_tests: $(patsubst %.c,$(OUTPUT)/%.o,$(UNIT_SRCS)) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# the store logs its housekeeping thread's failures through util/log
STORE_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard store/*.c)) $(OUTPUT)/util/log.o
$(OUTPUT)/store_tests: $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard tests/store/*.c)) $(STORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -lsqlite3 -lpthread -o $@

UNWIND_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard unwind/*.c)) $(OUTPUT)/util/file.o
$(OUTPUT)/unwind_tests: $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard tests/unwind/*.c)) $(UNWIND_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -ldw -lelf -lz -o $@

test: test-deps
	$(Q)$(MAKE) --no-print-directory all $(OUTPUT)/unit_tests $(OUTPUT)/store_tests \
		$(OUTPUT)/unwind_tests \
		$(WORKLOADS) $(FIXTURES) $(WEB_TEST_DEPS) $(PUSH_TEST_DEPS) \
		$(FUZZ_TARGETS) $(FUZZ_DIR)/seeds $(FUZZ_DIR)/seeds_unwind
	$(Q)FUZZ_TEST_SECONDS=$(FUZZ_TEST_SECONDS) bash tests/run.sh

# tests/push/: the reference Pyroscope receiver and its calibration clients
# (connect-node, protobufjs, busboy, pprof-format, Grafana's Node SDK).
PUSH_TEST_DEPS := tests/push/node_modules/@connectrpc/connect-node/package.json
$(PUSH_TEST_DEPS): tests/push/package.json
	$(call msg,NPM,tests/push)
	$(Q)cd tests/push && npm install --no-audit --no-fund --silent
	$(Q)touch $@

# The Debian package (debian/), built by dpkg-buildpackage from a copy of
# the tree under .output/deb/ so the build's by-products stay there too.
deb:
	@$(call install_missing,$(BUILD_DEBS) $(DEB_DEBS))
	$(Q)rm -rf $(OUTPUT)/deb && mkdir -p $(OUTPUT)/deb/ember-$(DEB_VERSION)
	$(Q)tar -c --exclude=./.output --exclude=./.git --exclude=node_modules . | \
		tar -x -C $(OUTPUT)/deb/ember-$(DEB_VERSION)
	$(Q)cd $(OUTPUT)/deb/ember-$(DEB_VERSION) && dpkg-buildpackage -b -us -uc -j2 \
		>../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	$(Q)cp $(OUTPUT)/deb/ember_$(DEB_VERSION)_amd64.deb $(OUTPUT)/
	@echo "built $(OUTPUT)/ember_$(DEB_VERSION)_amd64.deb"

# The always-on agent with its defaults, in the foreground (Ctrl-C stops it).
run: deps
	$(Q)$(MAKE) --no-print-directory all
	@echo "ember agent: store /var/lib/ember/ember.db, UI at http://127.0.0.1:7070/"
	$(Q)$(OUTPUT)/ember agent

# The kernel matrix's inputs (tests/vm/): Debian's kernel images, fetched
# once, and the initramfs holding this build; make test makes them too.
.PHONY: vm
vm: deps
	$(Q)$(MAKE) --no-print-directory all $(addprefix $(OUTPUT)/workloads/,cpu_chain nofp_chain short_300ms)
	$(Q)bash tests/vm/kernels.sh
	$(Q)/usr/bin/python3 tests/vm/initramfs.py

bench: test-deps
	$(Q)$(MAKE) --no-print-directory all $(WORKLOADS) bench-tools
	$(Q)bash bench/run.sh

# The agent for SOAK_S seconds (30 min unless told) under process and thread
# churn, hostile files and a store on a tmpfs that fills up; not in make test.
SOAK_S ?= 1800
.PHONY: soak
soak: test-deps
	$(Q)$(MAKE) --no-print-directory all $(addprefix $(OUTPUT)/workloads/,stack_churn thread_depths jit_spin cpu_chain)
	$(Q)SOAK_S=$(SOAK_S) /usr/bin/python3 bench/soak.py

clean:
	rm -rf $(OUTPUT)

# Symbolizer test fixtures (binaries built by the suite): defines FIXTURES.
-include tests/unit/fixtures.mk

# The export module's embedded viewer files.
-include export/export.mk

# The web UI/API module: WEB_OBJS, WEB_TEST_DEPS.
-include web/web.mk

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

# The BPF cost bench's yardstick and workload.
-include bench/bench.mk

# `make fuzz`: the libFuzzer targets of the symbolizer and the unwind table
# builder (tests/fuzz/); `make test` runs them for FUZZ_TEST_SECONDS in all.
-include tests/fuzz/fuzz.mk
