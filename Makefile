# interlook: build, test, run.
#   make            build everything (-Werror)
#   make test       as root (or with sudo): install what is missing, start dockerd if none
#                   answers, build the test image, build, run every test (tests/prepare.sh);
#                   last line: "N passed, N failed"
#   make test T="test_core test_cli" F='test_kill9*'
#                   only those test binaries (T), only the cases matching the glob (F)
#   make unit       the unit tests only: no root, no daemons, no install step (T=, F= too)
#   make asan       the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make run        start the stack with deploy/interlook.yml
#   make fuzz       every libFuzzer target (tests/fuzz) for FUZZ_SECONDS (60) each
#   make chaos      the chaos drill (tests/chaos): kills, dockerd restarts, full disk,
#                   link cuts, the DNS and LB steps with their servers killed
#   make bench      benchmarks (figures as ratios to a raw ZeroMQ baseline)
#   make bins       the binaries only (no tests, no cmocka needed)
#   make install    binaries, configuration and systemd units under $(DESTDIR)$(PREFIX)
#   make install-sdk  the SDK alone (interlook.h, libinterlook.a, interlook.pc; install does it too)

SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD   ?= build/asan
OPT      = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN    = -fsanitize=address,undefined
else
BUILD   ?= build/release
OPT      = -O2
LDSAN    =
endif

PKGS     = libczmq libzmq msgpack yaml-0.1 libcurl libmicrohttpd jansson ldns libcrypto libmnl
CC      ?= cc
CFLAGS  ?= -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wstrict-prototypes -Wshadow -Werror $(OPT) -I.
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
TESTLIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
LDFLAGS += $(LDSAN)

# The SDK (libinterlook.a, common/interlook.h): all an extension links, the
# bus client side of broker/ and common/. The core's broker is not in it
# (libcore.a). SDK_PKGS: what it needs (yaml-0.1: il_config reads the file).
SDK_PKGS = libczmq libzmq msgpack yaml-0.1
LIB_SRC  = $(filter-out broker/broker.c,$(wildcard common/*.c) $(wildcard broker/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      = $(BUILD)/libinterlook.a
SDK_HDR  = $(filter-out broker/broker.h common/interlook.h,$(wildcard common/*.h) $(wildcard broker/*.h))
# Extensions include <interlook.h>, as they would against the installed SDK.
$(BUILD)/obj/extensions/%.o: CFLAGS += -Icommon

# Every binary: name -> sources
BINS                      = interlook-echo interlook-inject interlook-ipalloc interlook-docker interlook-dns interlookctl
BIN_interlook-docker_SRC  = $(wildcard extensions/docker/*.c)
BIN_interlook-dns_SRC     = $(wildcard extensions/dns/*.c)
BIN_interlook-echo_SRC    = $(wildcard extensions/echo/*.c)
BIN_interlook-inject_SRC  = $(wildcard extensions/inject/*.c)
BIN_interlook-ipalloc_SRC = $(wildcard extensions/ipalloc/*.c)
BIN_interlookctl_SRC      = $(wildcard core/ctl/*.c)
# Each binary links the libraries it uses, no more. common/etcd.c (il_etcd_*,
# in the SDK) needs libcurl and jansson in the binaries that use it.
BIN_interlook-docker_PKGS  = $(SDK_PKGS) libcurl jansson
BIN_interlook-dns_PKGS     = $(SDK_PKGS) ldns libcrypto
BIN_interlook-echo_PKGS    = $(SDK_PKGS)
BIN_interlook-inject_PKGS  = $(SDK_PKGS)
BIN_interlook-ipalloc_PKGS = $(SDK_PKGS) libcurl jansson
BIN_interlookctl_PKGS      = $(SDK_PKGS) libcurl jansson
BIN_interlookd_PKGS        = $(SDK_PKGS) libmicrohttpd jansson libcurl

# The core's and the extensions' modules (all but each main.c) and the core's
# broker, linked into the binaries and the tests.
CORE_SRC = broker/broker.c $(filter-out core/main.c,$(wildcard core/*.c)) \
           $(filter-out %/main.c,$(wildcard core/*/*.c)) \
           $(filter-out %/main.c,$(wildcard extensions/*/*.c))
ifneq ($(wildcard core/main.c),)
BINS += interlookd
BIN_interlookd_SRC = core/main.c
endif
ifneq ($(wildcard extensions/lb/main.c),)
BINS += interlook-lb
BIN_interlook-lb_SRC  = $(wildcard extensions/lb/*.c)
BIN_interlook-lb_PKGS = $(SDK_PKGS) libmnl
endif

BIN_PATHS = $(BINS:%=$(BUILD)/bin/%)

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
INTEG_SRC  = $(wildcard tests/integration/test_*.c)
TEST_HELP  = $(wildcard tests/support/*.c)
TEST_BINS  = $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%) $(INTEG_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BINS = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))
CHAOS_BIN  = $(BUILD)/chaos/chaos

.PHONY: all bins deps test asan run bench clean format format-check lint install install-sdk
# Keep every object: none is an intermediate file for make to delete (which
# would also print after the test summary, the line CI reads).
.SECONDARY:
# What is missing is installed first, then everything is built by a second
# make: under -j nothing would otherwise wait for the install, and the
# compiler (and pkg-config, which gives the flags) may not be there yet.
all: deps-check
	@$(MAKE) --no-print-directory compile
compile: $(BIN_PATHS) $(TEST_BINS) $(BENCH_BINS) $(CHAOS_BIN)
	@:
bins: $(BIN_PATHS)

# Missing libraries are installed once, by the project's own script.
deps-check:
	@pkg-config --exists $(PKGS) cmocka 2>/dev/null || ./deploy/install-deps.sh
deps:
	./deploy/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Rebuilt when the Makefile changes too: it decides which objects are in.
$(LIB): $(LIB_OBJ) Makefile
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $(LIB_OBJ)

define BIN_RULE
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter %/main.c,$(BIN_$(1)_SRC))) $(BUILD)/libcore.a $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(BUILD)/libcore.a $(LIB) \
	    $$(shell pkg-config --libs $$(BIN_$(1)_PKGS) 2>/dev/null) -lpthread
endef
$(foreach b,$(BINS),$(eval $(call BIN_RULE,$(b))))

# The core's modules (all but main) as a library, so tests can link them.
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
$(BUILD)/libcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

TEST_HELP_OBJ = $(TEST_HELP:%.c=$(BUILD)/obj/%.o)
$(BUILD)/tests/%: tests/%.c $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB) $(TESTLIBS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB) $(LDLIBS)

# The chaos drill (tests/chaos, README "Chaos drills"): a tool like the
# benchmarks. make chaos runs the full drill as root (it mounts a tmpfs, makes
# network namespaces and restarts dockerd); make test runs chaos --short as one
# test (tests/run.sh).
$(BUILD)/chaos/%: tests/chaos/%.c $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $(LDFLAGS) -o $@ $< $(TEST_HELP_OBJ) $(BUILD)/libcore.a $(LIB) $(LDLIBS)
.PHONY: chaos
chaos: all
	@$(TEST_AS_ROOT) env BUILD=$(BUILD) ./$(CHAOS_BIN)

# Which tests run: T names test binaries (space separated, e.g. T="test_core
# test_cli"), F a glob over case names (TEST_FILTER, tests/support/testrun.h).
# make test runs them as root (through sudo -n when not root), as some create
# network namespaces or install units; tests/prepare.sh stops at once, saying
# what to run, when neither is possible.
# Fuzzing (tests/fuzz, README "Fuzzing"): libFuzzer targets built with clang,
# ASan and UBSan. The library and the modules are compiled again with clang
# into build/fuzz, instrumented, so coverage guides the fuzzer. make test runs
# each target for a few seconds on its seed corpus (tests/run.sh); make fuzz
# for FUZZ_SECONDS each, on a copy of the seeds in build/fuzz/corpus.
FUZZ_CC      ?= clang
FUZZ_DIR      = build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS   = -g -O1 -std=gnu11 -I. $(FUZZ_SAN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/tests/%)
FUZZ_LIB_OBJ  = $(sort $(LIB_SRC:%.c=$(FUZZ_DIR)/obj/%.o) $(CORE_SRC:%.c=$(FUZZ_DIR)/obj/%.o))
$(FUZZ_DIR)/obj/extensions/%.o: FUZZ_CFLAGS += -Icommon
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_DIR)/libfuzzed.a: $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
$(FUZZ_DIR)/tests/%: tests/fuzz/%.c $(FUZZ_DIR)/libfuzzed.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Icommon -fsanitize=fuzzer -MMD -MP -o $@ $< $(FUZZ_DIR)/libfuzzed.a $(LDLIBS)
.PHONY: fuzz fuzz-compile fuzz-seeds
# The msgpack seeds, made by the project's encoders (tests/fuzz/seeds.c).
fuzz-seeds: $(BUILD)/libcore.a $(LIB)
	@mkdir -p $(BUILD)/fuzz tests/fuzz/corpus/fuzz_ilp_msg tests/fuzz/corpus/fuzz_service tests/fuzz/corpus/fuzz_ilp_pub \
	    tests/fuzz/corpus/fuzz_alloc_db tests/fuzz/corpus/fuzz_store
	$(CC) $(CFLAGS) -o $(BUILD)/fuzz/seeds tests/fuzz/seeds.c $(BUILD)/libcore.a $(LIB) $(LDLIBS)
	./$(BUILD)/fuzz/seeds
fuzz-compile: $(FUZZ_BINS)
	@:
fuzz: deps-check
	@$(MAKE) --no-print-directory fuzz-compile
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/fuzz/run.sh $(call TEST_SEL,$(FUZZ_BINS))

T ?=
F ?=
TEST_SEL    = $(if $(T),$(filter $(addprefix %/,$(T)),$(1)),$(1))
TEST_NONE   = $(filter-out $(notdir $(TEST_BINS) $(FUZZ_BINS) $(CHAOS_BIN)),$(T))
TEST_ENV    = BUILD=$(BUILD) SANITIZE=$(SANITIZE) $(if $(F),TEST_FILTER='$(F)')
TEST_AS_ROOT = $(if $(filter 0,$(shell id -u)),,sudo -n)
# Every test main calls test_run_group (tests/support/testrun.h), included here.
$(BUILD)/tests/%: private CFLAGS += -include tests/support/testrun.h
UNIT_BINS   = $(UNIT_SRC:tests/%.c=$(BUILD)/tests/%)
.PHONY: unit unit-compile compile deps-check test-names
unit-compile: $(call TEST_SEL,$(UNIT_BINS))
	@:

test-names:
	@$(if $(TEST_NONE),echo "make: no test binary named $(TEST_NONE) (there are: $(notdir $(TEST_BINS)))" >&2; exit 2)

test: test-names
	@./tests/prepare.sh
	@$(MAKE) --no-print-directory compile fuzz-compile
	@$(TEST_AS_ROOT) env $(TEST_ENV) ./tests/run.sh $(call TEST_SEL,$(TEST_BINS) $(FUZZ_BINS) $(CHAOS_BIN))

# No root, no daemons, no install: the libraries must be there (make deps).
unit: test-names
	@pkg-config --exists $(PKGS) cmocka 2>/dev/null || \
	    { echo "make unit: libraries missing; install them once as root: make deps (or sudo make deps)" >&2; exit 1; }
	@$(if $(call TEST_SEL,$(UNIT_BINS)),,echo "make unit: no unit test named $(T) (there are: $(notdir $(UNIT_BINS)))" >&2; exit 2)
	@$(MAKE) --no-print-directory unit-compile
	@env $(TEST_ENV) ./tests/run.sh $(call TEST_SEL,$(UNIT_BINS))

asan:
	@$(MAKE) --no-print-directory SANITIZE=1 test

run: all
	@./deploy/run.sh $(BUILD)/bin

bench: all
	@BUILD=$(BUILD) ./tests/bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
lint:
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	    --suppress=missingIncludeSystem -I. common broker core extensions

# Installation (as packagers expect: PREFIX, DESTDIR). The configuration is
# never overwritten; the units run the binaries from $(BINDIR).
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
STATEDIR   ?= /var/lib
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR     ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITS       = $(wildcard deploy/systemd/*.service)
install: bins install-sdk
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/interlook $(DESTDIR)$(UNITDIR)
	install -m 0755 $(INSTALL_STRIP) $(BIN_PATHS) $(DESTDIR)$(BINDIR)
	[ -e $(DESTDIR)$(SYSCONFDIR)/interlook/interlook.yml ] || \
	    sed 's|\./var/entries\.db|$(STATEDIR)/interlook-core/entries.db|; s|\./var/ipalloc\.db|$(STATEDIR)/interlook-ipalloc/ipalloc.db|' \
	        deploy/interlook.yml >$(DESTDIR)$(SYSCONFDIR)/interlook/interlook.yml
	for u in $(UNITS); do \
	    sed 's|@BINDIR@|$(BINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' $$u \
	        >$(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done

# The SDK, to build an extension out of the tree: interlook.h, the headers it
# includes under include/interlook/, libinterlook.a and interlook.pc.
SDK_VERSION = $(shell sed -n 's/.*INTERLOOK_VERSION "\(.*\)"/\1/p' common/version.h)
install-sdk: $(LIB)
	install -d $(DESTDIR)$(INCLUDEDIR)/interlook/common $(DESTDIR)$(INCLUDEDIR)/interlook/broker \
	    $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 common/interlook.h $(DESTDIR)$(INCLUDEDIR)/interlook.h
	for h in $(SDK_HDR); do install -m 0644 $$h $(DESTDIR)$(INCLUDEDIR)/interlook/$$h || exit 1; done
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libinterlook.a
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(SDK_VERSION)|g' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	    deploy/interlook.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/interlook.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/interlook.pc

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
