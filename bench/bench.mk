# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# bench/bench.mk - builds the BPF cost bench's yardstick (stack_baseline) and workload (depth_spin).

BENCH_OUT := $(OUTPUT)/bench

$(BENCH_OUT)/stack_baseline.bpf.o: bench/stack_baseline.bpf.c $(OUTPUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(BENCH_OUT)
	$(Q)$(CLANG) -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUTPUT) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BENCH_OUT)/stack_baseline.skel.h: $(BENCH_OUT)/stack_baseline.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name stack_baseline_bpf > $@

$(BENCH_OUT)/stack_baseline: bench/stack_baseline.c $(BENCH_OUT)/stack_baseline.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g -Wall -I$(BENCH_OUT) $< -lbpf -lelf -lz -o $@

# Frame pointers everywhere, so the baseline's and ember's FP walks see every caller.
$(BENCH_OUT)/depth_spin: bench/depth_spin.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(BENCH_OUT)
	$(Q)$(CC) -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer $< -o $@ -lpthread

bench-tools: $(BENCH_OUT)/stack_baseline $(BENCH_OUT)/depth_spin
