# Nua: one binary, build/nua, over a library of modules in src/.
#
#   make            build/nua and the tools
#   make test       the whole suite (unit, TOML conformance, configs, end to end)
#   make asan       the whole suite under AddressSanitizer + UBSan (build/asan)
#   make fuzz       libFuzzer harnesses, each run FUZZ_SECONDS (default 60)
#   make bench      benchmarks, printing figures

BUILD ?= build
CC ?= cc
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wpointer-arith -Wvla -Wwrite-strings -Wformat-security -fno-common
OPT ?= -O2 -g
SAN ?=
ifeq ($(SAN),1)
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT = -O1 -g
endif
PKGS = sqlite3 jansson libsodium libarchive libcurl libmicrohttpd libcrypto libargon2 libqrencode
# A machine without one of them stops here, with one line that names them
# all, rather than at a compiler error about a header. 'make clean' and
# 'make format' need none.
NO_PKGS_GOALS = clean format cppcheck
ifneq ($(filter-out $(NO_PKGS_GOALS),$(or $(MAKECMDGOALS),all)),)
MISSING_PKGS := $(shell command -v pkg-config >/dev/null || echo pkg-config; \
	for p in $(PKGS); do pkg-config --exists $$p 2>/dev/null || echo $$p; done)
ifneq ($(MISSING_PKGS),)
$(error missing pkg-config modules: $(MISSING_PKGS); 'scripts/setup' installs them)
endif
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_ALL = -std=gnu11 $(OPT) $(WARN) $(SANFLAGS) -Isrc $(PKG_CFLAGS) \
	     -DNUA_VERSION='"$(VERSION)"' -MMD -MP $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lm

LIB_SRCS := $(wildcard src/*.c)
CLI_SRCS := $(wildcard src/cli/*.c) $(wildcard src/daemon/*.c)
TOOL_SRCS := $(wildcard src/tools/*.c)
UNIT_SRCS := $(wildcard tests/unit/*.c)

LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)
TOOLS := $(TOOL_SRCS:src/tools/%.c=$(BUILD)/%)

all: $(BUILD)/nua $(BUILD)/nua-init $(TOOLS) $(BUILD)/unit-tests $(BUILD)/nua.bash-completion

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/libnua.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/nua: $(CLI_OBJS) $(BUILD)/libnua.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJS) $(BUILD)/libnua.a $(LIBS)

$(BUILD)/%: $(BUILD)/obj/src/tools/%.o $(BUILD)/libnua.a
	$(CC) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/libnua.a $(LIBS)

# PID 1 of multi-process containers: static, libc only, never sanitized
# (it runs inside the image, without the sanitizers' runtime).
INIT_SRCS = src/init/nua-init.c src/cron.c src/template.c
$(BUILD)/nua-init: $(INIT_SRCS) src/cron.h src/template.h src/banned.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -Isrc -static -o $@ $(INIT_SRCS)

$(BUILD)/unit-tests: $(UNIT_OBJS) $(BUILD)/libnua.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(UNIT_OBJS) $(BUILD)/libnua.a $(LIBS)

$(BUILD)/nua.bash-completion: $(BUILD)/nua
	$(BUILD)/nua completion bash > $@.tmp && mv $@.tmp $@

test: all
	NUA_BUILD=$(abspath $(BUILD)) tests/run

asan:
	$(MAKE) BUILD=build/asan SAN=1 CC=clang test

# libFuzzer needs clang. Each harness in fuzz/ links the library built with
# coverage instrumentation and runs FUZZ_SECONDS on its seed corpus.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := $(wildcard fuzz/*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)
FUZZ_FLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined

# The instrumented library is made by a sub-make with its own BUILD; the
# phony target makes it re-check the sources every time without recursing.
fuzz-lib:
	$(MAKE) BUILD=build/fuzz/lib CC=clang SANFLAGS="$(FUZZ_FLAGS)" OPT="-O1 -g" lib

lib: $(BUILD)/libnua.a

build/fuzz/%: fuzz/%.c fuzz-lib
	clang -std=gnu11 -O1 -g -Isrc $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	      -o $@ $< build/fuzz/lib/libnua.a $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do \
		name=$$(basename $$f); \
		mkdir -p build/fuzz/corpus/$$name; \
		echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
		dict=; [ -f fuzz/$$name.dict ] && dict=-dict=fuzz/$$name.dict; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		    $$dict build/fuzz/corpus/$$name fuzz/corpus/$$name \
		    2>build/fuzz/$$name.log || { tail -50 build/fuzz/$$name.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::new_units_added' build/fuzz/$$name.log; \
	done

bench: all
	NUA_BUILD=$(abspath $(BUILD)) bench/run
	NUA_BUILD=$(abspath $(BUILD)) bench/backup
	NUA_BUILD=$(abspath $(BUILD)) bench/tls
	NUA_BUILD=$(abspath $(BUILD)) bench/access
	NUA_BUILD=$(abspath $(BUILD)) bench/store

format:
	clang-format -i $(LIB_SRCS) $(CLI_SRCS) $(TOOL_SRCS) $(UNIT_SRCS) src/*.h src/cli/*.h

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		 --inline-suppr -Isrc src

clean:
	rm -rf build

.PHONY: all lib test asan fuzz fuzz-build fuzz-lib bench format cppcheck clean
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
