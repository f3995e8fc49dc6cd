# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# web/web.mk - the web module's part of the build, included by the Makefile:
# web/*.c plus the viewer files of web/assets/ embedded with `xxd -i`, the
# libmicrohttpd flags, and what `make test` needs for tests/web/.

WEB_SRCS := $(wildcard web/*.c)
WEB_ASSETS := $(sort $(wildcard web/assets/*))
WEB_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(WEB_SRCS)) $(OUTPUT)/web/assets.o

ALL_CFLAGS += -Iweb $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
LDLIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

# Each asset becomes a static array; a table maps file names to them.
$(OUTPUT)/web/assets.c: $(WEB_ASSETS) web/web.mk
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q){ echo '/* generated from web/assets/ by web/web.mk */'; \
	  echo '#include "$(CURDIR)/web/internal.h"'; \
	  for f in $(WEB_ASSETS); do \
	    (cd web/assets && xxd -i $$(basename $$f)) | \
	      sed 's/^unsigned char/static const unsigned char/; s/^unsigned int/static const unsigned int/'; \
	  done; \
	  echo 'const struct web_asset web_assets[] = {'; \
	  for f in $(WEB_ASSETS); do \
	    n=$$(basename $$f); v=$$(printf '%s' "$$n" | tr -c 'a-zA-Z0-9' '_'); \
	    echo "	{ \"$$n\", $$v, sizeof($$v) },"; \
	  done; \
	  echo '	{ 0 },'; echo '};'; } > $@

$(OUTPUT)/web/assets.o: $(OUTPUT)/web/assets.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-unused-variable -c $< -o $@

# Every binary that links LIB_OBJS (cmd/serve.c, cmd/agent.c) needs the web objects.
$(OUTPUT)/ember $(OUTPUT)/unit_tests: $(WEB_OBJS)

# tests/web/: a store generator, headless Chromium and playwright-core.
$(OUTPUT)/web_gen: tests/web/gen.c $(STORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -lsqlite3 -o $@

tests/web/node_modules/playwright-core/package.json: tests/web/package.json
	$(call msg,NPM,playwright-core)
	$(Q)cd tests/web && npm install --no-audit --no-fund --silent
	$(Q)touch $@

# chromium and npm come from the Makefile's deps target.
WEB_TEST_DEPS := $(OUTPUT)/ember $(OUTPUT)/web_gen \
	tests/web/node_modules/playwright-core/package.json
