/* luks/select.h - the one selector of the LUKS containers a flow works on.
 *
 * Every flow that acts on containers (`heads luks`, `heads duk setup`, the
 * menu's LUKS options and Disk Unlock Key) names them the same way: a
 * key-devices file ("DEVICE [UUID]" lines, kexec_key_devices.txt format),
 * DEVICE paths, or discovery. A file line that carries a UUID is always
 * checked against the container's header: a container that now has another
 * UUID is refused (-ESTALE), never worked on.
 *
 * Nothing is printed: a failure comes with one sentence in *ret_err naming
 * the file and the device (caller frees); luks_probe() has logged its own
 * reason when a device is not a readable LUKS container.
 */
#ifndef HEADS_LUKS_SELECT_H
#define HEADS_LUKS_SELECT_H

#include "luks/luks.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

/* Largest key-devices file read. */
#define LUKS_SELECT_FILE_MAX (64 * 1024)

struct luks_select {
	const char *devices_file;   /* "DEVICE [UUID]" lines, or NULL */
	char *const *paths;         /* else DEVICE paths (at most LUKS_MAX_DEVICES) */
	size_t n_paths;             /* else (0 and no file): discovery */
	bool discover_removable;    /* discovery includes USB/removable disks */
	/* Optional: a path taken without probing (its entry filled by the
	 * callback, e.g. a container whose torn header a resumed
	 * reencryption restores). Returns true if it filled *d. Such an
	 * entry has an empty UUID and is not UUID-checked. */
	bool (*unprobed)(const char *path, struct luks_device *d, void *userdata);
	void *userdata;
};

/* Outcomes (negative), each with *ret_err:
 *   -ESTALE    a line's UUID differs from its container's
 *              ("DEV: UUID U differs from V in FILE")
 *   -ENODEV    a device is not a readable LUKS container (luks_probe()
 *              logged why; "FILE names DEV, which ..." / "DEV is not ...")
 *   -EIO       discovery failed
 *   -E2BIG     more than LUKS_MAX_DEVICES paths
 *   otherwise  devices_file cannot be read (-ENOENT: "FILE: does not
 *              exist") or is malformed ("FILE: line N: reason")
 * luks_select_bad_input(r) is true for the last two kinds (a usage error of
 * the caller rather than a check that failed).
 * 0 with the containers in file/argument order (discovery: sorted by path);
 * *ret_n may be 0. */
int luks_select_containers(const struct luks_select *s, struct luks_device **ret,
			   size_t *ret_n, char **ret_err);


static inline bool luks_select_bad_input(int r)
{
	return r < 0 && r != -ESTALE && r != -ENODEV && r != -EIO;
}

#endif
