/* libxenctrl.so.4.17 stand-in (with libxentoollog, libxencall, libxenevtchn,
 * libxengnttab, libxenforeignmemory, libxendevicemodel and libxentoolcore
 * behind it) for kexec-tools, its only user in the payload. kexec-tools asks
 * libxenctrl whether it runs in a Xen domain (xen_present(): a control
 * interface opens) and only then loads through Xen's kexec hypercalls. The
 * payload is never a Xen guest (it is the firmware's payload and starts Xen
 * itself), so the interface never opens: kexec-tools takes the Linux
 * kexec_load path. Every other entry point fails with ENOSYS; none is reached
 * without an open interface. The payload builder checks that every libxenctrl
 * symbol kexec imports or copies is defined here. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xc_interface_core xc_interface;

/* libxenctrl's one data symbol kexec takes (copied into kexec's image at
 * load time, so it must exist with the real size, 40 bytes): the "no
 * buffer" hypercall buffer, as libxenctrl initialises it (ubuf = -1: no
 * bounce buffer). */
struct xc_hypercall_buffer {
	void *hbuf;
	struct xc_hypercall_buffer *param_shadow;
	size_t sz;
	int dir;
	void *ubuf;
};
struct xc_hypercall_buffer xc__hypercall_buffer_HYPERCALL_BUFFER_NULL = {
	.ubuf = (void *)-1,
};

xc_interface *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
	(void)logger;
	(void)dombuild_logger;
	(void)flags;
	errno = ENOENT;
	return NULL;
}

int xc_interface_close(xc_interface *xch)
{
	(void)xch;
	return 0;
}

static int no_xen(void)
{
	errno = ENOSYS;
	return -1;
}

int xc_version(xc_interface *xch, int cmd, void *arg)
{
	(void)xch, (void)cmd, (void)arg;
	return no_xen();
}

int xc_get_max_cpus(xc_interface *xch)
{
	(void)xch;
	return no_xen();
}

int xc_get_machine_memory_map(xc_interface *xch, void *entries, unsigned max)
{
	(void)xch, (void)entries, (void)max;
	return no_xen();
}

int xc_kexec_exec(xc_interface *xch, int type)
{
	(void)xch, (void)type;
	return no_xen();
}

int xc_kexec_get_range(xc_interface *xch, int range, int nr, uint64_t *size, uint64_t *start)
{
	(void)xch, (void)range, (void)nr, (void)size, (void)start;
	return no_xen();
}

int xc_kexec_load(xc_interface *xch, uint8_t type, uint16_t arch, uint64_t entry_maddr,
		  uint32_t nr_segments, void *segments)
{
	(void)xch, (void)type, (void)arch, (void)entry_maddr, (void)nr_segments, (void)segments;
	return no_xen();
}

int xc_kexec_unload(xc_interface *xch, int type)
{
	(void)xch, (void)type;
	return no_xen();
}

int xc_kexec_status(xc_interface *xch, int type)
{
	(void)xch, (void)type;
	return no_xen();
}

void *xc_hypercall_buffer_array_create(xc_interface *xch, unsigned n)
{
	(void)xch, (void)n;
	errno = ENOSYS;
	return NULL;
}

void *xc__hypercall_buffer_array_alloc(xc_interface *xch, void *array, unsigned index,
				       void *hbuf, size_t size)
{
	(void)xch, (void)array, (void)index, (void)hbuf, (void)size;
	errno = ENOSYS;
	return NULL;
}

void xc_hypercall_buffer_array_destroy(xc_interface *xch, void *array)
{
	(void)xch, (void)array;
}
