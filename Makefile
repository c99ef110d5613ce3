# SPDX-License-Identifier: GPL-2.0
#
# make            build kmod/oktls.ko (against KDIR), userspace and selftests
# make check      the test suite: every supported kernel in QEMU (see README)
# make vm         an interactive guest with oktls loaded
#
# KVER selects the kernel(s): by default the newest Debian 6.12 and 6.1
# point releases, resolved at setup time. KDIR defaults to the first one's
# headers.

DEPS := selftests/qemu/deps.sh
KVERS := $(or $(KVER),$(shell $(DEPS) --kvers 2>/dev/null))
KDIR ?= /lib/modules/$(firstword $(KVERS))/build
export OKTLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/oktls
PREFIX ?= /usr/local

# On a real machine (KDIR given) nothing is installed for the QEMU rig.
MOD_DEPS := $(if $(filter command line environment,$(origin KDIR)),,deps)

.PHONY: all deps modules userspace selftests check check-long fuzz vm run demo bench install clean

all: modules userspace selftests

deps:
	@$(DEPS)

modules: $(MOD_DEPS)
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

userspace: $(MOD_DEPS)
	$(MAKE) -C userspace

selftests: deps
	$(MAKE) -C selftests

check:
	@KVER="$(KVERS)" selftests/qemu/check.sh

# The main job: oktlsd serving HTTPS from a VM with oktls loaded.
run: modules userspace
	tools/run/run.sh run $(firstword $(KVERS))

demo: modules userspace
	tools/run/run.sh demo $(firstword $(KVERS))

# Benchmarks: oktls beside the stock tls module and userspace OpenSSL, in
# one VM boot per clock (tools/bench/README).
bench: modules userspace
	tools/bench/run.sh $(firstword $(KVERS))

# The test suite with the debug kernel's oktlsd streams at full size, plus
# a bounded libFuzzer run over the record math.
check-long:
	@OKTLS_DEBUG_MIB=100 DEBUG_VM_TIMEOUT=14400 DEBUG_TEST_TIMEOUT=7200 \
		KVER="$(KVERS)" selftests/qemu/check.sh
	$(MAKE) fuzz

fuzz:
	$(MAKE) -C tools/fuzz run FUZZ_SECONDS=$(or $(FUZZ_SECONDS),300)

vm: modules selftests
	mkdir -p build/vm
	cp kmod/oktls.ko build/vm/
	selftests/qemu/run.sh --interactive $(firstword $(KVERS)) build/vm

# The module for KDIR's kernel, oktlsd, its man page, a systemd unit and a
# sample /etc/default/oktlsd (kept if one exists). DESTDIR for packaging.
install: modules userspace
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) modules_install
	install -D -m 0755 userspace/oktlsd $(DESTDIR)$(PREFIX)/sbin/oktlsd
	install -D -m 0644 userspace/oktlsd.8 $(DESTDIR)$(PREFIX)/share/man/man8/oktlsd.8
	install -D -m 0644 userspace/oktlsd.service $(DESTDIR)/etc/systemd/system/oktlsd.service
	[ -e $(DESTDIR)/etc/default/oktlsd ] || \
		install -D -m 0644 userspace/oktlsd.default $(DESTDIR)/etc/default/oktlsd

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C userspace clean
	$(MAKE) -C selftests clean
	rm -rf build
