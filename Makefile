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

.PHONY: all deps modules userspace selftests check vm run demo bench clean

all: modules userspace selftests

deps:
	@$(DEPS)

modules: deps
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

userspace: deps
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

vm: modules selftests
	mkdir -p build/vm
	cp kmod/oktls.ko build/vm/
	selftests/qemu/run.sh --interactive $(firstword $(KVERS)) build/vm

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C userspace clean
	$(MAKE) -C selftests clean
	rm -rf build
