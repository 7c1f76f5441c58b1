# Entry points. See README.md.
#   make deps    install every Debian package the project uses (idempotent)
#   make         build ./build/heads
#   make check   all test suites, plus the sanitizer (ASan+UBSan) and fuzz builds
#   make run     build the payload and boot Heads in QEMU (serial console)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# Suites run under the sanitizer build (vm runs the normal build only: the
# payload is built from it).
ASAN_SUITES ?= --suite unit --suite tpm --suite luks
FUZZ_SECONDS ?= 20
MESON_TEST  ?= meson test --print-errorlogs --num-processes 2

.PHONY: all deps build check check-build check-asan check-fuzz run clean payload disk run-reset \
	disk-xen run-xen \
	rom kernel payload-ovmf payload-coreboot

all: build

deps:
	@tools/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

$(FUZZ_BUILD)/build.ninja:
	CC=clang-14 meson setup $(FUZZ_BUILD) -Dfuzzing=true -Dfuzz_seconds=$(FUZZ_SECONDS) \
		-Db_lundef=false

# `make check` runs in phases, each timed by tools/check-phase into
# $(CHECK_PHASES); every phase runs even if an earlier one failed, and the
# summary (cases counted, skips by name, phase times) decides. The vm phase
# (serial QEMU boots: one core under TCG) runs beside the asan and fuzz
# phases, which use the other core; its lines are prefixed "[vm] ".
CHECK_PHASES ?= $(BUILD)/meson-logs/check-phases.tsv
PHASE = -@tools/check-phase $(CHECK_PHASES)
LOGS = meson-logs/testlog

check:
	@mkdir -p $(dir $(CHECK_PHASES)) && date +%s > $(CHECK_PHASES).start
	@rm -f $(CHECK_PHASES) $(BUILD)/$(LOGS)*.json $(ASAN_BUILD)/$(LOGS)*.json $(FUZZ_BUILD)/$(LOGS)*.json
	$(PHASE) deps -- $(MAKE) --no-print-directory deps
	$(PHASE) build -- $(MAKE) --no-print-directory build
	$(PHASE) unit --log $(BUILD)/$(LOGS)-unit.json -- \
		$(MESON_TEST) -C $(BUILD) --suite unit --suite fuzz --logbase testlog-unit
	$(PHASE) tpm --log $(BUILD)/$(LOGS)-tpm.json -- \
		$(MESON_TEST) -C $(BUILD) --suite tpm --logbase testlog-tpm
	$(PHASE) luks --log $(BUILD)/$(LOGS)-luks.json -- \
		$(MESON_TEST) -C $(BUILD) --suite luks --logbase testlog-luks
	-@tools/check-phase $(CHECK_PHASES) vm --log $(BUILD)/$(LOGS)-vm.json -- \
		$(MESON_TEST) -C $(BUILD) --suite vm --logbase testlog-vm 2>&1 | sed -u 's/^/[vm] /' & \
	tools/check-phase $(CHECK_PHASES) asan --log $(ASAN_BUILD)/$(LOGS)-asan.json -- \
		$(MAKE) --no-print-directory check-asan; \
	tools/check-phase $(CHECK_PHASES) fuzz --log $(FUZZ_BUILD)/$(LOGS)-fuzz.json -- \
		$(MAKE) --no-print-directory check-fuzz; \
	wait
	@tools/test-summary.py --phases $(CHECK_PHASES) $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# One build directory's suites at a time (no phase times).
check-build: build
	$(MESON_TEST) -C $(BUILD)

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	$(MESON_TEST) -C $(ASAN_BUILD) $(ASAN_SUITES) --logbase testlog-asan

check-fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	$(MESON_TEST) -C $(FUZZ_BUILD) --suite fuzz --logbase testlog-fuzz

# QEMU board (boards/qemu): payload = Debian's kernel + our initramfs; demo
# disk = mmdebstrap'd Debian 12 on LUKS2 (root needed, cached by recipe hash).
QEMU_OUT ?= $(BUILD)/qemu
# coreboot (default): boards/qemu-coreboot, coreboot + Heads in an 8 MiB
# flash; ovmf or seabios: boards/qemu, the payload given to QEMU directly.
# TPM=1.2 (board qemu only): swtpm in TPM 1.2 mode, its own state
# (build/qemu/tpm12-state); the payload is the same (heads detects the version).
# Its firmware is OVMF unless FIRMWARE says otherwise: SeaBIOS locks physical
# presence before it boots anything, so there the TPM reset can only own a
# TPM that has no owner yet (docs/decisions.md, issue 19 session 6).
TPM ?= 2.0
FIRMWARE ?= $(if $(filter 1.2,$(TPM)),ovmf,coreboot)
CB_OUT ?= $(BUILD)/qemu-coreboot
CB_BOARD = boards/qemu-coreboot
# Where the pinned coreboot tarballs are found without network (the
# download cache /var/cache/heads/downloads is tried first).
DOWNLOAD_MIRROR ?= $(abspath ../shared/downloads)
export DOWNLOAD_MIRROR

# On the coreboot board the size report ends with the CBFS free space, so
# `make payload` builds the ROM too (a payload change rebuilds it in seconds).
payload: $(if $(filter coreboot,$(FIRMWARE)),rom,payload-ovmf)

# Rebuilt only when heads, the builder or a board file changed; the sha256
# of the initrd is printed either way.
payload-ovmf: build
	@$(MAKE) --no-print-directory $(QEMU_OUT)/initrd.cpio.xz
	@sha256sum $(QEMU_OUT)/initrd.cpio.xz

# The board kernel from Debian's linux-source-6.1 (cached by input hash).
kernel:
	@python3 tools/kernel/build-kernel.py --board $(CB_BOARD) --out $(CB_OUT)

payload-coreboot: build kernel
	@python3 tools/payload/build-payload.py --board $(CB_BOARD) --heads $(BUILD)/heads \
		--kernel $(CB_OUT)/bzImage --out $(CB_OUT)

# coreboot 26.06 + the payload: build/qemu-coreboot/coreboot.rom (8 MiB),
# cached by input hash; prints its sha256 and the CBFS free space.
rom: payload-coreboot
	@python3 tools/rom/build-rom.py --board $(CB_BOARD) --kernel $(CB_OUT)/bzImage \
		--initrd $(CB_OUT)/initrd.cpio.xz --out $(CB_OUT)

$(QEMU_OUT)/initrd.cpio.xz: $(BUILD)/heads tools/payload/build-payload.py $(wildcard boards/qemu/*)
	python3 tools/payload/build-payload.py --board boards/qemu --heads $(BUILD)/heads \
		--out $(QEMU_OUT)

disk:
	tools/disk/build-disk.sh $(QEMU_OUT)

# DISK=xen (issue 25): the Qubes-like demo disk (tools/disk-xen: Xen 4.17 +
# a Debian 12 dom0, btrfs root and swap in two LUKS2 containers) on board
# qemu with SeaBIOS (the ACPI RSDP in the legacy F segment, as coreboot puts
# it: kexec-tools' multiboot2 loader gives Xen no EFI tables), -cpu max,-smap
# (a PV dom0 crashes on TCG's SMAP), 2 GiB; its own disk copy, TPM state and
# ROM area (make run-reset drops them too).
disk-xen:
	tools/disk-xen/build-disk-xen.sh $(QEMU_OUT)

run-xen: deps build payload-ovmf disk-xen
	@test -e $(QEMU_OUT)/disk-xen.img || \
		cp --sparse=always $(QEMU_OUT)/xen-disk.img $(QEMU_OUT)/disk-xen.img
	boards/qemu/run.py --payload $(QEMU_OUT) --firmware seabios --cpu max,-smap --memory 2048 \
		--disk $(QEMU_OUT)/disk-xen.img --state $(QEMU_OUT)/tpm-state-xen \
		--rom $(QEMU_OUT)/rom-xen.img

# The disk the VM writes to is a copy of the demo disk (make run-reset drops
# it and the TPM state: a fresh start). Quit QEMU with Ctrl-A X.
ifeq ($(DISK),xen)
run: run-xen
else
run: deps build $(if $(filter coreboot,$(FIRMWARE)),rom,payload)
	@if [ "$(TPM)" != 2.0 ] && [ "$(FIRMWARE)" = coreboot ]; then \
		echo "make run TPM=$(TPM): use FIRMWARE=ovmf or seabios (the coreboot board has a TPM 2.0)"; \
		exit 2; fi
	@if tools/disk/build-disk.sh $(QEMU_OUT); then \
		test -e $(QEMU_OUT)/disk.img || \
			cp --sparse=always $(QEMU_OUT)/demo-disk.img $(QEMU_OUT)/disk.img; \
		disk="--disk $(QEMU_OUT)/disk.img"; \
	else echo "make run: no demo disk (see above): booting without one"; disk=""; fi; \
	if [ "$(FIRMWARE)" = coreboot ]; then boards/qemu-coreboot/run.py --out $(CB_OUT) $$disk $(if $(USB),--usb $(USB)); \
	else boards/qemu/run.py --payload $(QEMU_OUT) --firmware $(FIRMWARE) --tpm $(TPM) $$disk \
		$(if $(DONGLE),--dongle $(DONGLE)); fi
endif

run-reset:
	rm -rf $(QEMU_OUT)/tpm-state $(QEMU_OUT)/disk.img $(QEMU_OUT)/rom.img $(QEMU_OUT)/tpm12-state
	rm -rf $(QEMU_OUT)/tpm-state-xen $(QEMU_OUT)/disk-xen.img $(QEMU_OUT)/rom-xen.img
	rm -rf $(CB_OUT)/tpm-state $(CB_OUT)/flash.rom $(CB_OUT)/rom.img

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
