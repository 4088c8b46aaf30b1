# lifeline — top-level build.
#
#   make                 build everything into build/
#   make check           install missing packages, build, run every test
#                        (unit tests plain and under ASan+UBSan, VM tests)
#   make check-unit      unit + integration tests only (no VM)
#   make check-vm        the VM tests (real Debian under OVMF in QEMU)
#   make check-vm-endpoint  the endpoint VM test alone (Secure Boot, TPM, LUKS)
#   make demo            the crash-loop demo in a VM
#   make demo-endpoint   the same outage on a Secure Boot + TPM + LUKS endpoint
#   make bench           benchmarks (print, never fail)
#   make install         install into DESTDIR (PREFIX=/usr); edited files in
#                        /etc are never overwritten
#   make uninstall       remove what install put there (not /etc/lifeline
#                        files that were edited, nor /var/lib/lifeline)
#   make man             the man pages (scdoc) into build/man/
#   make deb             the Debian package (dpkg-buildpackage) into build/deb/
#   make check-pkg       build the package, lintian, contents, fake install
#   make deps            install missing Debian 12 packages (apt-get)
#   make SANITIZE=1      ASan+UBSan build (into build-san/)
#
# Layering (docs/ARCHITECTURE.md): common/ <- efi/ <- the agent/ subsystem
# folders <- the programs; `make check-layers` fails when a folder includes
# the header of a folder above it or beside it.

# /usr: the unit (ExecStart=), the initramfs hooks and lifelined look for
# the programs under /usr/sbin and /usr/lib/lifeline, whatever PREFIX is.
PREFIX ?= /usr
SYSCONFDIR ?= /etc
DESTDIR ?=
SBINDIR = $(PREFIX)/sbin
LIBEXECDIR = $(PREFIX)/lib/lifeline
MANDIR = $(PREFIX)/share/man
# The vendors' component drop-ins; a same-named file in
# $(SYSCONFDIR)/lifeline/components.d overrides or masks one.
VENDORCOMPDIR = $(PREFIX)/lib/lifeline/components.d
# systemd and initramfs-tools look only under /usr (and /etc), whatever
# PREFIX is. (The Debian package sets UNITDIR and GENERATORDIR to /lib/...,
# where Debian 12's debhelper and lintian want them.)
UNITDIR = /usr/lib/systemd/system
GENERATORDIR = /usr/lib/systemd/system-generators
INITRAMFSDIR = /usr/share/initramfs-tools
DRACUTDIR = /usr/lib/dracut/modules.d

VERSION = 0.1.0
CC ?= cc
PKGS = efivar libsystemd blkid libcurl json-c libcrypto

ifeq ($(SANITIZE),1)
O ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPTFLAGS = -O1 -g
else
O ?= build
SANFLAGS =
OPTFLAGS = -O2 -g -D_FORTIFY_SOURCE=2
endif

# Warnings are errors in development and CI; a distribution build with
# another compiler sets WERROR=0 (debian/rules does), so a new compiler's
# new warning does not fail the package build.
WERROR ?= 1
WARNFLAGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wcast-qual $(if $(filter 1,$(WERROR)),-Werror)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS ?= $(OPTFLAGS)
# One section per function and object, and --gc-sections at link time: a
# program keeps only the functions it can reach, not every function of
# each libagent.a member it pulls in (lifeline-early is copied into every
# initramfs; the size goal in tests/bench/README.md).
SECTIONFLAGS = -ffunction-sections -fdata-sections
# CPPFLAGS, CFLAGS and LDFLAGS from the environment (dpkg-buildflags) are
# honoured; CFLAGS replaces the default optimisation flags.
ALL_CFLAGS = -std=gnu11 $(WARNFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(SECTIONFLAGS) -I. $(PKG_CFLAGS) \
	-DLIFELINE_VERSION='"$(VERSION)"' -DLIFELINE_UNITDIR='"$(UNITDIR)"' -D_GNU_SOURCE -fstack-protector-strong -MMD -MP
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

# The builds before each test run use every CPU (JOBS); the tests run
# JOBS at a time too (tests/run-unit.sh).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
check: ensure-deps
	$(MAKE) check-layers
	$(MAKE) format-check
	$(MAKE) -j$(JOBS) tests
	$(MAKE) check-unit
	$(MAKE) -j$(JOBS) SANITIZE=1 tests
	$(MAKE) SANITIZE=1 check-unit
	$(MAKE) check-fuzz
	$(MAKE) check-analyze
	$(MAKE) check-initramfs
	$(MAKE) check-observe
	$(MAKE) check-pkg
	$(MAKE) check-vm

check-unit: tests
	tests/run-unit.sh --self-test
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

# Alert rules (promtool) and the report JSON Schema against real reports.
check-observe: all
	tests/observe/run.sh $(O)

# The endpoint machine (Secure Boot, shim + GRUB, MOK-signed module, TPM2
# and LUKS2; tests/vm/endpoint/README.md), alone. check-vm runs it too.
check-vm-endpoint: all
	tests/vm/endpoint/run.sh

# The VM scenarios (tests/vm/README.md), each a boot sequence on the guest
# with lifeline installed from its package (built when stale). One of them:
# make check-vm LIFELINE_VM_SCENARIOS=hang.py
check-vm: all
	tests/vm/run-all.sh

demo: ensure-deps all
	tests/vm/demo.sh

# The same outage on a corporate endpoint: Secure Boot, a MOK-signed
# module, the root on LUKS2 unlocked by the TPM; cured with no key typed.
demo-endpoint: ensure-deps all
	tests/vm/endpoint/run.sh

bench: all
	tests/bench/run.sh $(O)

# Man pages: man/NAME.SECTION.scd -> $(O)/man/NAME.SECTION (scdoc).
MAN_SRC = $(wildcard man/*.scd)
MAN_PAGES = $(patsubst man/%.scd,$(O)/man/%,$(MAN_SRC))
man: $(MAN_PAGES)
$(O)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	scdoc < $< > $@.tmp
	mv $@.tmp $@

# The files install puts in place, relative to DESTDIR (uninstall removes
# exactly these). Programs:
INSTALLED_BIN = $(SBINDIR)/lifelined $(SBINDIR)/lifelinectl \
	$(LIBEXECDIR)/lifeline-early $(LIBEXECDIR)/lifelined-worker \
	$(LIBEXECDIR)/watchdog-drivers $(GENERATORDIR)/lifeline-generator
INSTALLED_DATA = $(addprefix $(VENDORCOMPDIR)/,$(notdir $(wildcard config/components.d/*.conf))) \
	$(addprefix $(UNITDIR)/,$(notdir $(wildcard config/*.service config/*.target))) \
	$(INITRAMFSDIR)/hooks/lifeline $(INITRAMFSDIR)/scripts/init-top/lifeline \
	$(INITRAMFSDIR)/scripts/init-bottom/lifeline \
	$(addprefix $(DRACUTDIR)/90lifeline/,$(notdir $(wildcard initramfs-hook/dracut/*))) \
	$(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

# Nothing in $(SYSCONFDIR) is overwritten: lifeline.conf is installed only
# when there is none (the administrator's edits stay), components.d/ and
# check.d/ are the administrator's (created empty). The vendors' drop-ins go
# to $(VENDORCOMPDIR), replaced at every install like the programs.
install: all man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(GENERATORDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(VENDORCOMPDIR) \
		$(DESTDIR)$(SYSCONFDIR)/lifeline/components.d $(DESTDIR)$(SYSCONFDIR)/lifeline/check.d \
		$(DESTDIR)$(INITRAMFSDIR)/hooks $(DESTDIR)$(INITRAMFSDIR)/scripts/init-top \
		$(DESTDIR)$(INITRAMFSDIR)/scripts/init-bottom $(DESTDIR)$(DRACUTDIR)/90lifeline \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(O)/bin/lifelined $(O)/bin/lifelinectl $(DESTDIR)$(SBINDIR)/
	# stripped: it is copied into every initramfs (the size goal in tests/bench/README.md)
	install -m 0755 -s $(O)/initramfs-hook/lifeline-early $(DESTDIR)$(LIBEXECDIR)/
	# lifelined's short-lived jobs (network, crypto, state store)
	install -m 0755 $(O)/bin/lifelined-worker $(DESTDIR)$(LIBEXECDIR)/
	# run by the initramfs hooks at build time: which watchdog drivers
	install -m 0755 initramfs-hook/watchdog-drivers $(DESTDIR)$(LIBEXECDIR)/
	install -m 0755 $(O)/bin/lifeline-generator $(DESTDIR)$(GENERATORDIR)/
	[ -e $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf ] || \
		install -m 0644 config/lifeline.conf $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf
	install -m 0644 config/components.d/*.conf $(DESTDIR)$(VENDORCOMPDIR)/
	install -m 0644 config/*.service config/*.target $(DESTDIR)$(UNITDIR)/
	install -m 0755 initramfs-hook/initramfs-tools/hooks/lifeline $(DESTDIR)$(INITRAMFSDIR)/hooks/lifeline
	install -m 0755 initramfs-hook/initramfs-tools/scripts/init-top/lifeline \
		$(DESTDIR)$(INITRAMFSDIR)/scripts/init-top/lifeline
	install -m 0755 initramfs-hook/initramfs-tools/scripts/init-bottom/lifeline \
		$(DESTDIR)$(INITRAMFSDIR)/scripts/init-bottom/lifeline
	install -m 0755 initramfs-hook/dracut/*.sh $(DESTDIR)$(DRACUTDIR)/90lifeline/
	install -m 0644 initramfs-hook/dracut/*.service $(DESTDIR)$(DRACUTDIR)/90lifeline/
	install -m 0644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	@[ -n "$(DESTDIR)" ] || echo "lifeline installed; next: systemctl daemon-reload;" \
		"systemctl enable lifelined.service; update-initramfs -u -k all (or dracut --regenerate-all --force)"

# Removes what install put there. Kept: lifeline.conf when edited, the
# administrator's drop-ins and checks, /var/lib/lifeline (quarantined files
# may be in it: run 'lifelinectl clear --all' and reboot first).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_BIN) $(INSTALLED_DATA))
	if [ -f $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf ] && \
		cmp -s config/lifeline.conf $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/lifeline/lifeline.conf; fi
	-rmdir $(DESTDIR)$(VENDORCOMPDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DRACUTDIR)/90lifeline \
		$(DESTDIR)$(SYSCONFDIR)/lifeline/components.d $(DESTDIR)$(SYSCONFDIR)/lifeline/check.d \
		$(DESTDIR)$(SYSCONFDIR)/lifeline 2>/dev/null
	@[ -n "$(DESTDIR)" ] || echo "lifeline removed; next: systemctl daemon-reload;" \
		"update-initramfs -u -k all (or dracut --regenerate-all --force)"

# The Debian package, built from a copy of the tracked and untracked (not
# ignored) files in $(O)/deb/src, so that dpkg-buildpackage's output lands
# in $(O)/deb/ and not beside the source tree.
DEB_SRC = $(O)/deb/src/lifeline-$(VERSION)
deb:
	rm -rf $(O)/deb
	mkdir -p $(DEB_SRC)
	# what it is built from (tests/vm/need-deb.sh: never boot a stale package)
	sh tests/vm/deb-sources-hash.sh > $(O)/deb/SOURCES.tmp
	git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t $(DEB_SRC)
	# not our make variables (O=, WERROR=...): the package build sets its own
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		dpkg-buildpackage -us -uc -b
	mv $(O)/deb/src/*.deb $(O)/deb/src/*.changes $(O)/deb/src/*.buildinfo $(O)/deb/
	mv $(O)/deb/SOURCES.tmp $(O)/deb/SOURCES
	rm -rf $(O)/deb/src
	@ls $(O)/deb/*.deb

check-pkg:
	tests/pkg/run.sh $(O)

clean:
	rm -rf build build-san

.PHONY: check-vm-endpoint demo-endpoint check-observe format format-check all tests deps ensure-deps check check-unit check-layers check-fuzz fuzz check-analyze check-initramfs check-vm demo bench man install uninstall deb check-pkg clean
.DELETE_ON_ERROR:

# -type f: build/deb/ holds folders named *.d (components.d, check.d)
-include $(shell find $(O) -name '*.d' -type f 2>/dev/null)
