# lifeline — top-level build.
#
#   make                 build everything into build/
#   make check           install missing packages, build, run every test
#                        (unit tests plain and under ASan+UBSan, VM tests)
#   make check-unit      unit + integration tests only (no VM)
#   make check-vm        the VM tests (real Debian under OVMF in QEMU)
#   make demo            the crash-loop demo in a VM
#   make bench           benchmarks (print, never fail)
#   make install DESTDIR=D PREFIX=/usr
#   make deps            install missing Debian 12 packages (apt-get)
#   make SANITIZE=1      ASan+UBSan build (into build-san/)
#
# Layering (docs/ARCHITECTURE.md): common/ <- efi/ <- the agent/ subsystem
# folders <- the programs; `make check-layers` fails when a folder includes
# the header of a folder above it or beside it.

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
SBINDIR = $(PREFIX)/sbin
LIBEXECDIR = $(PREFIX)/lib/lifeline
# systemd and initramfs-tools look only under /usr (and /etc), whatever
# PREFIX is.
UNITDIR = /usr/lib/systemd/system
GENERATORDIR = /usr/lib/systemd/system-generators
INITRAMFSDIR = /usr/share/initramfs-tools
DRACUTDIR = /usr/lib/dracut/modules.d

VERSION = 0.1.0
CC ?= cc
PKGS = efivar libsystemd blkid inih libcurl json-c libcrypto

ifeq ($(SANITIZE),1)
O ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPTFLAGS = -O1 -g
else
O ?= build
SANFLAGS =
OPTFLAGS = -O2 -g -D_FORTIFY_SOURCE=2
endif

WARNFLAGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual -Werror
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= $(OPTFLAGS)
# One section per function and object, and --gc-sections at link time: a
# program keeps only the functions it can reach, not every function of
# each libagent.a member it pulls in (lifeline-early is copied into every
# initramfs; issue 3 size goal).
SECTIONFLAGS = -ffunction-sections -fdata-sections
ALL_CFLAGS = -std=gnu11 $(WARNFLAGS) $(CFLAGS) $(SANFLAGS) $(SECTIONFLAGS) -I. $(PKG_CFLAGS) \
	-DLIFELINE_VERSION='"$(VERSION)"' -D_GNU_SOURCE -fstack-protector-strong -MMD -MP
ALL_LDFLAGS = $(SANFLAGS) -Wl,--gc-sections -Wl,--as-needed -Wl,-z,relro -Wl,-z,now $(LDFLAGS)

# agent/ is one folder per subsystem (docs/ARCHITECTURE.md). The core
# folders build libagent.a; the program folders (lifelined/, ctl/,
# generator/) build libprograms.a from everything but their mains, so the
# tests can call a program's verbs; each program is its main + the libs.
AGENT_PROGS = lifelinectl lifelined lifelined-worker lifeline-generator
PROG_DIRS = agent/lifelined agent/ctl agent/generator
PROG_MAINS = agent/ctl/lifelinectl.c agent/lifelined/lifelined.c \
	agent/lifelined/lifelined-worker.c agent/generator/lifeline-generator.c
COMMON_SRC = $(wildcard common/*.c)
EFI_SRC = $(wildcard efi/*.c)
AGENT_SRC = $(filter-out $(addsuffix /%,$(PROG_DIRS)),$(wildcard agent/*/*.c))
PROGLIB_SRC = $(filter-out $(PROG_MAINS),$(wildcard $(addsuffix /*.c,$(PROG_DIRS))))
TEST_SRC = $(wildcard tests/test-*.c)
TESTUTIL_SRC = $(wildcard tests/util/*.c)

LIBCOMMON = $(O)/common/libcommon.a
LIBEFI = $(O)/efi/libefi.a
LIBAGENT = $(O)/agent/libagent.a
LIBPROGRAMS = $(O)/agent/libprograms.a
LIBS = $(LIBAGENT) $(LIBEFI) $(LIBCOMMON)
# The helpers the unit tests share (tests/util/): linked into every test.
LIBTESTUTIL = $(O)/tests/libtestutil.a

# The programs are built into $(O)/bin/ (the object folders of
# agent/lifelined/ and the program lifelined cannot share one name).
PROGRAMS = $(addprefix $(O)/bin/,$(AGENT_PROGS)) $(O)/initramfs-hook/lifeline-early
TESTS = $(patsubst tests/%.c,$(O)/tests/%,$(TEST_SRC))

all: $(PROGRAMS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(patsubst %.c,$(O)/%.o,$(COMMON_SRC))
$(LIBEFI): $(patsubst %.c,$(O)/%.o,$(EFI_SRC))
$(LIBAGENT): $(patsubst %.c,$(O)/%.o,$(AGENT_SRC))
$(LIBPROGRAMS): $(patsubst %.c,$(O)/%.o,$(PROGLIB_SRC))
$(LIBTESTUTIL): $(patsubst %.c,$(O)/%.o,$(TESTUTIL_SRC))
$(LIBS) $(LIBPROGRAMS) $(LIBTESTUTIL):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(O)/bin/lifelinectl: $(O)/agent/ctl/lifelinectl.o $(LIBPROGRAMS) $(LIBS)
$(O)/bin/lifelined: $(O)/agent/lifelined/lifelined.o $(LIBPROGRAMS) $(LIBS)
$(O)/bin/lifelined-worker: $(O)/agent/lifelined/lifelined-worker.o $(LIBPROGRAMS) $(LIBS)
$(O)/bin/lifeline-generator: $(O)/agent/generator/lifeline-generator.o $(LIBPROGRAMS) $(LIBS)
$(addprefix $(O)/bin/,$(AGENT_PROGS)):
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/initramfs-hook/lifeline-early: $(O)/initramfs-hook/lifeline-early.o $(LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(O)/tests/%: $(O)/tests/%.o $(LIBTESTUTIL) $(LIBPROGRAMS) $(LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

tests: $(TESTS) $(PROGRAMS)

deps:
	tests/deps.sh

# Install packages only when something is missing (fast no-op otherwise).
ensure-deps:
	@tests/deps.sh --check >/dev/null 2>&1 || tests/deps.sh

check: ensure-deps
	$(MAKE) check-layers
	$(MAKE) format-check
	$(MAKE) check-unit
	$(MAKE) SANITIZE=1 check-unit
	$(MAKE) check-fuzz
	$(MAKE) check-analyze
	$(MAKE) check-initramfs
	$(MAKE) check-vm

check-unit: tests
	tests/run-unit.sh $(O)

check-layers:
	tests/check-layers.sh --self-test
	tests/check-layers.sh

# Every C file through the checked-in .clang-format (clang-format 14, as
# Debian 12 ships it). format-check fails, naming the files, when one
# would change.
FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find common efi agent initramfs-hook tests -name '*.[ch]')
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@bad=$$(for f in $(FORMAT_SRC); do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "not formatted (run 'make format'):"; echo "$$bad"; exit 1; fi; \
	echo "format: ok"

# For clangd and the analysers: one entry per C file, with the real flags.
compile_commands.json: $(COMMON_SRC) $(EFI_SRC) $(wildcard agent/*/*.c) Makefile
	python3 tests/compile-commands.py '$(CC) $(ALL_CFLAGS)' $(COMMON_SRC) $(EFI_SRC) \
		$(wildcard agent/*/*.c) initramfs-hook/lifeline-early.c $(TEST_SRC) $(TESTUTIL_SRC) > $@.tmp
	mv $@.tmp $@

# Fuzzers (tests/fuzz/fuzz-*.c): check-fuzz replays the saved corpora and
# runs each fuzzer briefly; fuzz runs each for FUZZ_SECONDS (libFuzzer).
FUZZ_SECONDS ?= 60
check-fuzz: all
	tests/fuzz/run.sh smoke

fuzz: all
	tests/fuzz/run.sh long $(FUZZ_SECONDS)

# Static analysers and valgrind on the programs' main paths.
check-analyze: all
	tests/analyze/run.sh

# The initramfs glue built into real images (mkinitramfs, dracut) and
# inspected (lsinitramfs, lsinitrd).
check-initramfs: all
	tests/initramfs/run.sh

check-vm: all
	tests/vm/run-all.sh

demo: ensure-deps all
	tests/vm/demo.sh

bench: all
	tests/bench/run.sh $(O)

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(GENERATORDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/lifeline/components.d \
		$(DESTDIR)$(SYSCONFDIR)/lifeline/check.d
	install -m 0755 $(O)/bin/lifelined $(O)/bin/lifelinectl $(DESTDIR)$(SBINDIR)/
	# stripped: it is copied into every initramfs (issue 3 size goal)
	install -m 0755 -s $(O)/initramfs-hook/lifeline-early $(DESTDIR)$(LIBEXECDIR)/
	# lifelined's short-lived jobs (network, crypto, state store)
	install -m 0755 $(O)/bin/lifelined-worker $(DESTDIR)$(LIBEXECDIR)/
	# run by the initramfs hooks at build time: which watchdog drivers
	install -m 0755 initramfs-hook/watchdog-drivers $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 $(O)/bin/lifeline-generator $(DESTDIR)$(GENERATORDIR)/
	[ -e $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf ] || \
		install -m 0644 config/lifeline.conf $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf
	for f in config/components.d/*.conf; do \
		[ -e "$$f" ] || continue; \
		install -m 0644 "$$f" $(DESTDIR)$(SYSCONFDIR)/lifeline/components.d/; done
	for f in config/*.service config/*.target; do \
		[ -e "$$f" ] || continue; \
		install -m 0644 "$$f" $(DESTDIR)$(UNITDIR)/; done
	if [ -d initramfs-hook/initramfs-tools ]; then \
		install -d $(DESTDIR)$(INITRAMFSDIR)/hooks $(DESTDIR)$(INITRAMFSDIR)/scripts/init-top \
			$(DESTDIR)$(INITRAMFSDIR)/scripts/init-bottom && \
		install -m 0755 initramfs-hook/initramfs-tools/hooks/lifeline $(DESTDIR)$(INITRAMFSDIR)/hooks/lifeline && \
		install -m 0755 initramfs-hook/initramfs-tools/scripts/init-top/lifeline $(DESTDIR)$(INITRAMFSDIR)/scripts/init-top/lifeline && \
		install -m 0755 initramfs-hook/initramfs-tools/scripts/init-bottom/lifeline $(DESTDIR)$(INITRAMFSDIR)/scripts/init-bottom/lifeline; fi
	if [ -d initramfs-hook/dracut ]; then \
		install -d $(DESTDIR)$(DRACUTDIR)/90lifeline && \
		install -m 0755 initramfs-hook/dracut/* $(DESTDIR)$(DRACUTDIR)/90lifeline/; fi

clean:
	rm -rf build build-san

.PHONY: format format-check all tests deps ensure-deps check check-unit check-layers check-fuzz fuzz check-analyze check-initramfs check-vm demo bench install clean
.DELETE_ON_ERROR:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
