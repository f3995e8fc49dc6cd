# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# web/web.mk - the web module's part of the build, included by the Makefile:
# web/*.c (HTTP and the API; the viewer files are export/assets/), the
# libmicrohttpd flags, and what `make test` needs for tests/web/.

WEB_SRCS := $(wildcard web/*.c)
WEB_OBJS := $(patsubst %.c,$(OUTPUT)/%.o,$(WEB_SRCS))

ALL_CFLAGS += -Iweb $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
LDLIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

# Every binary that links LIB_OBJS (cmd/serve.c, cmd/agent.c) needs the web objects.
$(OUTPUT)/ember $(OUTPUT)/unit_tests: $(WEB_OBJS)

# tests/web/: a store generator, headless Chromium and playwright-core.
$(OUTPUT)/web_gen: tests/web/gen.c $(STORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ -lsqlite3 -lpthread -o $@

tests/web/node_modules/playwright-core/package.json: tests/web/package.json
	$(call msg,NPM,playwright-core)
	$(Q)cd tests/web && npm install --no-audit --no-fund --silent
	$(Q)touch $@

# chromium and npm come from the Makefile's deps target.
WEB_TEST_DEPS := $(OUTPUT)/ember $(OUTPUT)/web_gen \
	tests/web/node_modules/playwright-core/package.json
