# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# export/export.mk - the export module's part of the build, included by the
# Makefile: the viewer files of export/assets/ (served by web/, inlined
# into HTML exports, svg.js into SVG exports) embedded with `xxd -i`.

EXPORT_ASSETS := $(sort $(wildcard export/assets/*))

# Each asset becomes a static array; a table maps file names to them.
$(OUTPUT)/export/assets.c: $(EXPORT_ASSETS) export/export.mk
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q){ echo '/* generated from export/assets/ by export/export.mk */'; \
	  echo '#include "$(CURDIR)/export/internal.h"'; \
	  for f in $(EXPORT_ASSETS); do \
	    (cd export/assets && xxd -i $$(basename $$f)) | \
	      sed 's/^unsigned char/static const unsigned char/; s/^unsigned int/static const unsigned int/'; \
	  done; \
	  echo 'const struct export_asset export_assets[] = {'; \
	  for f in $(EXPORT_ASSETS); do \
	    n=$$(basename $$f); v=$$(printf '%s' "$$n" | tr -c 'a-zA-Z0-9' '_'); \
	    echo "	{ \"$$n\", $$v, sizeof($$v) },"; \
	  done; \
	  echo '	{ 0 },'; echo '};'; } > $@

$(OUTPUT)/export/assets.o: $(OUTPUT)/export/assets.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-unused-variable -c $< -o $@

# Every binary that links LIB_OBJS (export/html.c) needs the assets.
$(OUTPUT)/ember $(OUTPUT)/unit_tests: $(OUTPUT)/export/assets.o
