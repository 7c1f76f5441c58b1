/* nk_hid_gadget.c - the Nitrokey Pro device model (nk_hid_model.c, the
 * same code the unit and command tests drive in-process) as a real USB
 * device inside the QEMU guest, for the VM test vm-hotp-gadget. Test-only:
 * it goes into a test initrd overlay (tests/vm/test_vm_hotp.py), never
 * into the payload.
 *
 * The gadget is a configfs composite device (20a0:4108) with one FunctionFS
 * function on dummy_hcd: a HID interface (HID class descriptor, a vendor
 * report descriptor with a 64-byte feature report, one interrupt-IN
 * endpoint). ep0 SETUP requests of that interface reach this process:
 * GET_DESCRIPTOR(report/HID), SET_REPORT(feature) -> the model's query,
 * GET_REPORT(feature) -> the model's answer, SET_IDLE/SET_PROTOCOL acked.
 * (configfs f_hid answers GET_REPORT with zeros on Linux 6.1, hence
 * FunctionFS.) The guest's usbhid/hidraw enumerate it like a dongle on a
 * laptop; heads finds it through sysfs and talks to /dev/hidrawN.
 *
 * The model's state persists on a raw virtio disk with serial
 * "hotp-model" (the host's image file): "NKHIDM01" + the model struct,
 * written after every SET_REPORT; anything else there = factory-fresh.
 *
 *   nk-hid-gadget FFS-MOUNTPOINT
 *
 * sets the gadget up, binds it to the first UDC, waits (up to 20 s) until
 * the host side has enumerated it, then forks: the parent exits 0 (the
 * caller may now start heads), the child serves ep0 until the gadget goes
 * away. Exit 1 on any set-up failure, with the reason on stderr. */
#include "nk_hid_model.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GADGET "/sys/kernel/config/usb_gadget/nkhotp"
#define STATE_SERIAL "hotp-model"
#define STATE_TAG "NKHIDM01"
#define VID 0x20a0
#define PID 0x4108

/* USB descriptors are little-endian, as is the guest (x86-64). */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host only");

static const char *me = "nk-hid-gadget";

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", me);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* ---- descriptors ---- */

static const uint8_t report_desc[] = {
	0x06, 0x00, 0xff,       /* Usage Page (Vendor 0xFF00) */
	0x09, 0x01,             /* Usage (1) */
	0xa1, 0x01,             /* Collection (Application) */
	0x15, 0x00,             /*   Logical Minimum (0) */
	0x26, 0xff, 0x00,       /*   Logical Maximum (255) */
	0x75, 0x08,             /*   Report Size (8) */
	0x95, 0x40,             /*   Report Count (64) */
	0x09, 0x02,             /*   Usage (2) */
	0xb1, 0x02,             /*   Feature (Data,Var,Abs): the 64-byte frames */
	0x95, 0x08,             /*   Report Count (8) */
	0x09, 0x03,             /*   Usage (3) */
	0x81, 0x02,             /*   Input (Data,Var,Abs) */
	0xc0,                   /* End Collection */
};

struct hid_class_desc {
	uint8_t bLength, bDescriptorType;
	uint16_t bcdHID;
	uint8_t bCountryCode, bNumDescriptors, bReportType;
	uint16_t wReportLength;
} __attribute__((packed));

struct speed_descs {
	struct usb_interface_descriptor intf;
	struct hid_class_desc hid;
	struct usb_endpoint_descriptor_no_audio ep;
} __attribute__((packed));

static const struct hid_class_desc hid_desc = {
	.bLength = sizeof(struct hid_class_desc),
	.bDescriptorType = 0x21,
	.bcdHID = 0x0111,
	.bNumDescriptors = 1,
	.bReportType = 0x22,
	.wReportLength = sizeof(report_desc),
};

#define SPEED_DESCS(interval)                                                                 \
	{                                                                                     \
		.intf = {.bLength = USB_DT_INTERFACE_SIZE, .bDescriptorType = USB_DT_INTERFACE, \
			 .bNumEndpoints = 1, .bInterfaceClass = USB_CLASS_HID, .iInterface = 1}, \
		.hid = hid_desc,                                                              \
		.ep = {.bLength = USB_DT_ENDPOINT_SIZE, .bDescriptorType = USB_DT_ENDPOINT,    \
		       .bEndpointAddress = 1 | USB_DIR_IN,                                     \
		       .bmAttributes = USB_ENDPOINT_XFER_INT,                                  \
		       .wMaxPacketSize = 64, .bInterval = (interval)},               \
	}

static const struct {
	struct usb_functionfs_descs_head_v2 head;
	uint32_t fs_count, hs_count;
	struct speed_descs fs, hs;
} __attribute__((packed)) descriptors = {
	.head = {.magic = FUNCTIONFS_DESCRIPTORS_MAGIC_V2,
		 .length = sizeof(descriptors),
		 .flags = FUNCTIONFS_HAS_FS_DESC | FUNCTIONFS_HAS_HS_DESC},
	.fs_count = 3,
	.hs_count = 3,
	.fs = SPEED_DESCS(10),
	.hs = SPEED_DESCS(4),
};

#define IF_NAME "Nitrokey HOTP (test model)"
static const struct {
	struct usb_functionfs_strings_head head;
	uint16_t lang;
	char str[sizeof(IF_NAME)];
} __attribute__((packed)) strings = {
	.head = {.magic = FUNCTIONFS_STRINGS_MAGIC, .length = sizeof(strings),
		 .str_count = 1, .lang_count = 1},
	.lang = 0x0409,
	.str = IF_NAME,
};

/* ---- the model's state on the "hotp-model" disk ---- */

static int state_fd = -1;

static void state_find(void)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;

	if (!d)
		die("/sys/block: %s", strerror(errno));
	while ((e = readdir(d)) && state_fd < 0) {
		char path[300], serial[64] = "";
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, serial, sizeof(serial) - 1);
		close(fd);
		if (n <= 0)
			continue;
		serial[n] = '\0';
		serial[strcspn(serial, "\n")] = '\0';
		if (strcmp(serial, STATE_SERIAL))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		state_fd = open(path, O_RDWR | O_CLOEXEC | O_SYNC);
		if (state_fd < 0)
			die("%s: %s", path, strerror(errno));
	}
	closedir(d);
}

static void state_open(struct nk_hid_model *m)
{
	char buf[8 + sizeof(*m)];

	/* virtio_blk was just loaded: give its probe 5 s */
	for (int i = 0; i < 50 && state_fd < 0; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		state_find();
		if (state_fd < 0)
			nanosleep(&ts, NULL);
	}
	if (state_fd < 0)
		die("no disk with serial %s (the model's state)", STATE_SERIAL);
	if (pread(state_fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	    !memcmp(buf, STATE_TAG, 8)) {
		memcpy(m, buf + 8, sizeof(*m));
		m->tmp_valid = false; /* a session token does not survive a replug */
		fprintf(stderr, "%s: model state loaded (slot %s)\n", me,
			m->slot_programmed ? "programmed" : "empty");
	} else {
		fprintf(stderr, "%s: factory-fresh model\n", me);
	}
}

static void state_save(const struct nk_hid_model *m)
{
	char buf[8 + sizeof(*m)];

	memcpy(buf, STATE_TAG, 8);
	memcpy(buf + 8, m, sizeof(*m));
	if (pwrite(state_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) || fsync(state_fd) < 0)
		fprintf(stderr, "%s: cannot save the model state: %s\n", me, strerror(errno));
}

/* ---- configfs ---- */

static void put(const char *rel, const char *value)
{
	char path[512];
	int fd;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), GADGET "/%s", rel);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, len) != (ssize_t)len)
		die("%s: %s", path, strerror(errno));
	close(fd);
}

static void mk(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), GADGET "%s%s", *rel ? "/" : "", rel);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", path, strerror(errno));
}

static void gadget_create(const char *ffs)
{
	if (mount("none", "/sys/kernel/config", "configfs", 0, NULL) < 0 && errno != EBUSY)
		die("mount configfs: %s", strerror(errno));
	mk("");
	put("idVendor", "0x20a0");
	put("idProduct", "0x4108");
	put("bcdDevice", "0x0100");
	put("bcdUSB", "0x0200");
	mk("strings/0x409");
	put("strings/0x409/manufacturer", "Nitrokey");
	put("strings/0x409/product", "Nitrokey Pro");
	put("strings/0x409/serialnumber", "0000A1B2");
	mk("configs/c.1");
	mk("configs/c.1/strings/0x409");
	put("configs/c.1/strings/0x409/configuration", "HOTP test model");
	put("configs/c.1/MaxPower", "100");
	mk("functions/ffs.nk");
	if (symlink(GADGET "/functions/ffs.nk", GADGET "/configs/c.1/ffs.nk") < 0 &&
	    errno != EEXIST)
		die("link ffs.nk into c.1: %s", strerror(errno));
	if (mkdir(ffs, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", ffs, strerror(errno));
	if (mount("nk", ffs, "functionfs", 0, NULL) < 0)
		die("mount functionfs on %s: %s", ffs, strerror(errno));
}

static void gadget_bind(void)
{
	DIR *d = opendir("/sys/class/udc");
	struct dirent *e;

	if (!d)
		die("/sys/class/udc: %s (dummy_hcd not loaded?)", strerror(errno));
	while ((e = readdir(d)) && e->d_name[0] == '.')
		;
	if (!e)
		die("no UDC in /sys/class/udc");
	put("UDC", e->d_name);
	closedir(d);
}

/* The host side enumerated a 20a0:4108 device (sysfs). */
static bool enumerated(void)
{
	DIR *d = opendir("/sys/bus/usb/devices");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d))) {
		char path[300], v[16] = "", p[16] = "";
		int fd;

		snprintf(path, sizeof(path), "/sys/bus/usb/devices/%s/idVendor", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (read(fd, v, sizeof(v) - 1) < 0)
			v[0] = '\0';
		close(fd);
		snprintf(path, sizeof(path), "/sys/bus/usb/devices/%s/idProduct", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (read(fd, p, sizeof(p) - 1) < 0)
			p[0] = '\0';
		close(fd);
		found = strtoul(v, NULL, 16) == VID && strtoul(p, NULL, 16) == PID;
	}
	closedir(d);
	return found;
}

/* ---- ep0 ---- */

static void reply(int ep0, const void *data, size_t len, size_t wlength)
{
	if (len > wlength)
		len = wlength;
	if (write(ep0, data, len) < 0)
		fprintf(stderr, "%s: ep0 reply: %s\n", me, strerror(errno));
}

static void ack(int ep0)
{
	if (read(ep0, NULL, 0) < 0)
		fprintf(stderr, "%s: ep0 ack: %s\n", me, strerror(errno));
}

static void stall(int ep0, const struct usb_ctrlrequest *s)
{
	/* FunctionFS: a read on an IN request (a write on an OUT one) halts */
	if (s->bRequestType & USB_DIR_IN)
		(void)!read(ep0, NULL, 0);
	else
		(void)!write(ep0, NULL, 0);
}

static void setup(int ep0, struct nk_hid_model *m, const struct usb_ctrlrequest *s)
{
	uint16_t value = le16toh(s->wValue), wlength = le16toh(s->wLength);
	uint8_t buf[64] = {0};

	switch (s->bRequestType << 8 | s->bRequest) {
	case (USB_DIR_IN | USB_RECIP_INTERFACE) << 8 | USB_REQ_GET_DESCRIPTOR:
		if (value >> 8 == 0x22)
			reply(ep0, report_desc, sizeof(report_desc), wlength);
		else if (value >> 8 == 0x21)
			reply(ep0, &hid_desc, sizeof(hid_desc), wlength);
		else
			stall(ep0, s);
		return;
	case (USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x01: /* GET_REPORT */
		if (value >> 8 == 3) {
			size_t len = 0;

			if (nk_hid_model_get_report(m, buf, sizeof(buf), &len) < 0) {
				stall(ep0, s);
				return;
			}
			reply(ep0, buf, len, wlength);
			explicit_bzero(buf, sizeof(buf));
		} else {
			reply(ep0, buf, wlength < 8 ? wlength : 8, wlength);
		}
		return;
	case (USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x09: { /* SET_REPORT */
		ssize_t n;

		if (value >> 8 != 3 || wlength != sizeof(buf)) {
			stall(ep0, s);
			return;
		}
		n = read(ep0, buf, sizeof(buf));
		if (n == (ssize_t)sizeof(buf)) {
			nk_hid_model_set_report(m, buf, sizeof(buf));
			state_save(m);
		} else {
			fprintf(stderr, "%s: SET_REPORT data: %zd bytes (%s)\n", me, n,
				n < 0 ? strerror(errno) : "short");
		}
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	case (USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x0a: /* SET_IDLE */
	case (USB_DIR_OUT | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x0b: /* SET_PROTOCOL */
		ack(ep0);
		return;
	case (USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x02: /* GET_IDLE */
	case (USB_DIR_IN | USB_TYPE_CLASS | USB_RECIP_INTERFACE) << 8 | 0x03: /* GET_PROTOCOL */
		reply(ep0, buf, 1, wlength);
		return;
	default:
		stall(ep0, s);
	}
}

static int serve(int ep0, struct nk_hid_model *m)
{
	for (;;) {
		struct usb_functionfs_event ev;
		ssize_t n = read(ep0, &ev, sizeof(ev));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(ev)) {
			fprintf(stderr, "%s: ep0: %s\n", me, n < 0 ? strerror(errno) : "short read");
			return 1;
		}
		if (ev.type == FUNCTIONFS_SETUP)
			setup(ep0, m, &ev.u.setup);
	}
}

int main(int argc, char **argv)
{
	struct nk_hid_model *m;
	char path[512];
	int ep0;
	pid_t pid;

	if (argc != 2)
		die("usage: nk-hid-gadget FFS-MOUNTPOINT");
	m = nk_hid_model_new();
	state_open(m);
	gadget_create(argv[1]);
	snprintf(path, sizeof(path), "%s/ep0", argv[1]);
	ep0 = open(path, O_RDWR | O_CLOEXEC);
	if (ep0 < 0)
		die("%s: %s", path, strerror(errno));
	if (write(ep0, &descriptors, sizeof(descriptors)) != (ssize_t)sizeof(descriptors))
		die("%s: descriptors refused: %s", path, strerror(errno));
	if (write(ep0, &strings, sizeof(strings)) != (ssize_t)sizeof(strings))
		die("%s: strings refused: %s", path, strerror(errno));
	gadget_bind();
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0)
		return serve(ep0, m);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		if (enumerated()) {
			fprintf(stderr, "%s: 20a0:4108 attached (pid %d)\n", me, (int)pid);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	die("the host did not enumerate the gadget within 20 s");
}
