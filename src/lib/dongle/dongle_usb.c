/* dongle_usb.c - real devices: discovery through sysfs, the HID family
 * through hidraw feature-report ioctls, the Nitrokey 3's CCID interface
 * through usbfs bulk transfers. No library: the kernel interfaces are a few
 * ioctls and the payload already has hidraw/usbfs (xhci + usbhid). */
#include "dongle/dongle.h"

#include "dongle/dongle_internal.h"
#include "dongle/nk_hid.h"
#include "fs.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/hidraw.h>
#include <linux/usbdevice_fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define USB_TIMEOUT_MS 5000

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* ---- hidraw ---- */

struct hidraw_ctx {
	int fd;
};

static int hidraw_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct hidraw_ctx *h = ctx;
	uint8_t rep[1 + NK_HID_REPORT_LEN] = {0};
	int r;

	if (len != NK_HID_REPORT_LEN)
		return -EINVAL;
	memcpy(rep + 1, buf, len);
	r = ioctl(h->fd, HIDIOCSFEATURE(sizeof(rep)), rep);
	explicit_bzero(rep, sizeof(rep));
	if (r < 0)
		return -errno;
	return (size_t)r == sizeof(rep) ? 0 : -EIO;
}

static int hidraw_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct hidraw_ctx *h = ctx;
	uint8_t rep[1 + NK_HID_REPORT_LEN] = {0};
	int r;

	r = ioctl(h->fd, HIDIOCGFEATURE(sizeof(rep)), rep);
	if (r < 0)
		return -errno;
	if (r < 1 || (size_t)r - 1 > cap) {
		explicit_bzero(rep, sizeof(rep));
		return -EIO;
	}
	memcpy(buf, rep + 1, (size_t)r - 1);
	*ret_len = (size_t)r - 1;
	explicit_bzero(rep, sizeof(rep));
	return 0;
}

static void hidraw_close(void *ctx)
{
	struct hidraw_ctx *h = ctx;

	if (h && h->fd >= 0)
		close(h->fd);
	free(h);
}

int dongle_hidraw_open(const char *path, struct dongle_transport **ret)
{
	struct dongle_transport *t;
	struct hidraw_ctx *h;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	h = xcalloc(1, sizeof(*h));
	h->fd = fd;
	t = xcalloc(1, sizeof(*t));
	*t = (struct dongle_transport){
		.name = "hidraw",
		.proto = DONGLE_PROTO_HID,
		.poll_ms = 200, /* the Storage answers after ~200 ms */
		.send = hidraw_send,
		.recv = hidraw_recv,
		.close = hidraw_close,
		.ctx = h,
	};
	*ret = t;
	return 0;
}

/* ---- usbfs CCID ---- */

struct usbfs_ctx {
	int fd;
	unsigned iface;
	uint8_t ep_out, ep_in;
};

static int usbfs_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct usbfs_ctx *u = ctx;
	struct usbdevfs_bulktransfer b = {
		.ep = u->ep_out, .len = (unsigned)len, .timeout = USB_TIMEOUT_MS, .data = (void *)buf};
	int r = ioctl(u->fd, USBDEVFS_BULK, &b);

	if (r < 0)
		return -errno;
	return (size_t)r == len ? 0 : -EIO;
}

static int usbfs_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct usbfs_ctx *u = ctx;
	struct usbdevfs_bulktransfer b = {
		.ep = u->ep_in, .len = (unsigned)cap, .timeout = USB_TIMEOUT_MS, .data = buf};
	int r = ioctl(u->fd, USBDEVFS_BULK, &b);

	if (r < 0)
		return -errno;
	*ret_len = (size_t)r;
	return 0;
}

static void usbfs_close(void *ctx)
{
	struct usbfs_ctx *u = ctx;

	if (!u)
		return;
	if (u->fd >= 0) {
		unsigned iface = u->iface;

		(void)ioctl(u->fd, USBDEVFS_RELEASEINTERFACE, &iface);
		close(u->fd);
	}
	free(u);
}

int dongle_usbfs_ccid_open(const char *path, unsigned iface, uint8_t ep_out, uint8_t ep_in,
			   struct dongle_transport **ret)
{
	struct usbdevfs_ioctl disc = {.ifno = (int)iface, .ioctl_code = USBDEVFS_DISCONNECT};
	struct dongle_transport *t;
	struct usbfs_ctx *u;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned ifno = iface;

	if (fd < 0)
		return -errno;
	(void)ioctl(fd, USBDEVFS_IOCTL, &disc); /* a kernel driver there: detach (ENODATA if none) */
	if (ioctl(fd, USBDEVFS_CLAIMINTERFACE, &ifno) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	u = xcalloc(1, sizeof(*u));
	*u = (struct usbfs_ctx){.fd = fd, .iface = iface, .ep_out = ep_out, .ep_in = ep_in};
	t = xcalloc(1, sizeof(*t));
	*t = (struct dongle_transport){
		.name = "usbfs-ccid",
		.proto = DONGLE_PROTO_CCID,
		.send = usbfs_send,
		.recv = usbfs_recv,
		.close = usbfs_close,
		.ctx = u,
	};
	*ret = t;
	return 0;
}

/* ---- discovery ---- */

/* Read a small sysfs attribute (one line) into buf. */
static int read_attr(const char *dir, const char *name, char *buf, size_t cap)
{
	_cleanup_free_ char *p = NULL;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* A sysfs number attribute (hex for USB ids and descriptors, decimal for
 * bus/device numbers), at most 0xffff. */
static int read_u16(const char *dir, const char *name, int base, uint16_t *ret)
{
	char buf[16], *end;
	unsigned long v;

	if (read_attr(dir, name, buf, sizeof(buf)) < 0)
		return -ENOENT;
	errno = 0;
	v = strtoul(buf, &end, base);
	if (errno || end == buf || *end || v > 0xffff)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static int read_hex16(const char *dir, const char *name, uint16_t *ret)
{
	return read_u16(dir, name, 16, ret);
}

static int read_dec(const char *dir, const char *name, unsigned *ret)
{
	uint16_t v = 0;
	int r = read_u16(dir, name, 10, &v);

	*ret = v;
	return r;
}

/* fn(ifdir, ctx) for each USB interface directory of devdir
 * (<devdir>/<config>:<if>) until it returns other than -ENOENT; that, or
 * -ENOENT when none did. */
static int each_iface(const char *devdir, int (*fn)(const char *ifdir, void *ctx), void *ctx)
{
	_cleanup_(closedirp) DIR *d = opendir(devdir);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		_cleanup_free_ char *ifdir = NULL;
		int r;

		if (e->d_name[0] == '.' || !strchr(e->d_name, ':'))
			continue;
		if (asprintf(&ifdir, "%s/%s", devdir, e->d_name) < 0)
			abort();
		if ((r = fn(ifdir, ctx)) != -ENOENT)
			return r;
	}
	return -ENOENT;
}

/* The hidraw node of interface ifdir: <ifdir>/<hid>/hidraw/hidrawN, into
 * *(char **)ret. */
static int iface_hidraw(const char *ifdir, void *ret)
{
	_cleanup_(closedirp) DIR *di = opendir(ifdir);
	struct dirent *f;

	if (!di)
		return -ENOENT;
	while ((f = readdir(di))) {
		_cleanup_free_ char *hd = NULL;
		_cleanup_(closedirp) DIR *dh = NULL;
		struct dirent *g;

		if (f->d_name[0] == '.')
			continue;
		if (asprintf(&hd, "%s/%s/hidraw", ifdir, f->d_name) < 0)
			abort();
		dh = opendir(hd);
		if (!dh)
			continue;
		while ((g = readdir(dh)))
			if (!strncmp(g->d_name, "hidraw", 6)) {
				if (asprintf((char **)ret, "/dev/%s", g->d_name) < 0)
					abort();
				return 0;
			}
	}
	return -ENOENT;
}

/* The hidraw node of USB device directory devdir. */
static int find_hidraw(const char *devdir, char **ret)
{
	return each_iface(devdir, iface_hidraw, ret);
}

/* Interface ifdir if it is CCID (class 0b) with bulk endpoints in and out:
 * into the struct dongle_found at found. */
static int iface_ccid(const char *ifdir, void *found)
{
	struct dongle_found *f = found;
	_cleanup_(closedirp) DIR *di = NULL;
	struct dirent *g;
	char cls[8];
	uint16_t ifno;
	int in = -1, out = -1;

	if (read_attr(ifdir, "bInterfaceClass", cls, sizeof(cls)) < 0 || strcmp(cls, "0b"))
		return -ENOENT;
	if (read_hex16(ifdir, "bInterfaceNumber", &ifno) < 0)
		return -ENOENT;
	di = opendir(ifdir);
	if (!di)
		return -ENOENT;
	while ((g = readdir(di))) {
		_cleanup_free_ char *epdir = NULL;
		char type[16], dir[8];
		uint16_t addr;

		if (strncmp(g->d_name, "ep_", 3))
			continue;
		if (asprintf(&epdir, "%s/%s", ifdir, g->d_name) < 0)
			abort();
		if (read_attr(epdir, "type", type, sizeof(type)) < 0 || strcmp(type, "Bulk") ||
		    read_attr(epdir, "direction", dir, sizeof(dir)) < 0 ||
		    read_hex16(epdir, "bEndpointAddress", &addr) < 0 || addr > 0xff)
			continue;
		if (!strcmp(dir, "in") && in < 0)
			in = addr;
		else if (!strcmp(dir, "out") && out < 0)
			out = addr;
	}
	if (in < 0 || out < 0)
		return -ENOENT;
	f->iface = ifno;
	f->ep_in = (uint8_t)in;
	f->ep_out = (uint8_t)out;
	return 0;
}

/* The CCID interface (class 0b) of devdir and its bulk endpoints. */
static int find_ccid(const char *devdir, struct dongle_found *f)
{
	return each_iface(devdir, iface_ccid, f);
}

enum dongle_result dongle_discover(const char *sysroot, struct dongle_found *ret)
{
	_cleanup_free_ char *base = NULL;
	_cleanup_(closedirp) DIR *d = NULL;
	const struct dongle_id *unsupported = NULL;
	struct dirent *e;

	if (!sysroot)
		sysroot = "";
	if (asprintf(&base, "%s/sys/bus/usb/devices", sysroot) < 0)
		abort();
	d = opendir(base);
	if (!d)
		return DONGLE_NO_DONGLE;
	while ((e = readdir(d))) {
		_cleanup_free_ char *devdir = NULL, *node = NULL;
		const struct dongle_id *id;
		struct dongle_found f = {0};
		uint16_t vid, pid;
		unsigned bus, dev;

		if (e->d_name[0] == '.' || strchr(e->d_name, ':'))
			continue;
		if (asprintf(&devdir, "%s/%s", base, e->d_name) < 0)
			abort();
		if (read_hex16(devdir, "idVendor", &vid) < 0 || read_hex16(devdir, "idProduct", &pid) < 0)
			continue;
		id = dongle_id_lookup(vid, pid);
		if (!id)
			continue;
		if (id->proto == DONGLE_PROTO_NONE) {
			unsupported = id;
			continue;
		}
		f.id = id;
		if (id->proto == DONGLE_PROTO_HID) {
			if (find_hidraw(devdir, &node) < 0) {
				log_debug("dongle: %s at %s has no hidraw node", id->brand, devdir);
				continue;
			}
		} else {
			if (read_dec(devdir, "busnum", &bus) < 0 || read_dec(devdir, "devnum", &dev) < 0 ||
			    find_ccid(devdir, &f) < 0) {
				log_debug("dongle: %s at %s has no CCID interface", id->brand, devdir);
				continue;
			}
			if (asprintf(&node, "/dev/bus/usb/%03u/%03u", bus, dev) < 0)
				abort();
		}
		if (strlen(node) >= sizeof(f.node))
			continue;
		strcpy(f.node, node);
		*ret = f;
		return DONGLE_OK;
	}
	if (unsupported) {
		*ret = (struct dongle_found){.id = unsupported};
		return DONGLE_NOT_SUPPORTED;
	}
	return DONGLE_NO_DONGLE;
}

enum dongle_result dongle_open(const char *sysroot, struct dongle **ret,
			       const struct dongle_id **ret_id)
{
	struct dongle_transport *t = NULL;
	struct dongle_found f;
	enum dongle_result r;
	int k;

	r = dongle_discover(sysroot, &f);
	if (ret_id)
		*ret_id = r == DONGLE_NO_DONGLE ? NULL : f.id;
	if (r != DONGLE_OK)
		return r;
	k = f.id->proto == DONGLE_PROTO_HID
		    ? dongle_hidraw_open(f.node, &t)
		    : dongle_usbfs_ccid_open(f.node, f.iface, f.ep_out, f.ep_in, &t);
	if (k < 0) {
		log_error("dongle: cannot open %s (%s): %s", f.node, f.id->brand, strerror(-k));
		return DONGLE_CONNECTION_ERROR;
	}
	return dongle_attach(t, f.id, ret);
}
