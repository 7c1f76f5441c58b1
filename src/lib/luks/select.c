/* The one LUKS container selector (see luks/select.h). */
#include "luks/select.h"
#include "fs.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int take(const struct luks_select *s, const char *path, struct luks_device *d)
{
	if (s->unprobed && s->unprobed(path, d, s->userdata))
		return 0;
	return luks_probe(path, d);
}

static int from_file(const struct luks_select *s, struct luks_device **ret, size_t *ret_n,
		     char **ret_err)
{
	_cleanup_free_ char *text = NULL;
	char *err = NULL;
	struct luks_key_device *kd = NULL;
	struct luks_device *v;
	size_t kn = 0, n = 0, len = 0;
	int r = fs_read_file(s->devices_file, LUKS_SELECT_FILE_MAX, &text, &len);

	if (r < 0) {
		*ret_err = xasprintf("%s: %s", s->devices_file,
				     r == -ENOENT ? "does not exist" : strerror(-r));
		return r;
	}
	r = luks_parse_key_devices(text, len, &kd, &kn, &err);
	if (r < 0) {
		*ret_err = xasprintf("%s: %s", s->devices_file, err ? err : strerror(-r));
		free(err);
		return r;
	}
	v = xcalloc(kn ? kn : 1, sizeof(*v));
	for (size_t i = 0; i < kn; i++) {
		r = take(s, kd[i].path, &v[n]);
		if (r < 0) {
			*ret_err = xasprintf("%s names %s, which is not a readable LUKS container",
					     s->devices_file, kd[i].path);
			r = -ENODEV;
			break;
		}
		n++;
		/* The UUID check is always on: an empty UUID is only an
		 * unprobed entry (nothing read to compare). */
		if (kd[i].uuid && *v[n - 1].uuid && strcasecmp(kd[i].uuid, v[n - 1].uuid) != 0) {
			*ret_err = xasprintf("%s: UUID %s differs from %s in %s", kd[i].path,
					     v[n - 1].uuid, kd[i].uuid, s->devices_file);
			r = -ESTALE;
			break;
		}
	}
	luks_key_devices_free(kd, kn);
	if (r < 0) {
		luks_devices_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int luks_select_containers(const struct luks_select *s, struct luks_device **ret,
			   size_t *ret_n, char **ret_err)
{
	struct luks_device *v;
	size_t n = 0;
	int r;

	*ret_err = NULL;
	if (s->devices_file)
		return from_file(s, ret, ret_n, ret_err);
	if (s->n_paths == 0) {
		r = luks_discover(s->discover_removable, ret, ret_n);
		if (r < 0) {
			*ret_err = xasprintf("listing the LUKS containers failed: %s", strerror(-r));
			return -EIO;
		}
		return 0;
	}
	if (s->n_paths > LUKS_MAX_DEVICES) {
		*ret_err = xasprintf("at most %d devices", LUKS_MAX_DEVICES);
		return -E2BIG;
	}
	v = xcalloc(s->n_paths, sizeof(*v));
	for (size_t i = 0; i < s->n_paths; i++) {
		r = take(s, s->paths[i], &v[n]);
		if (r < 0) {
			*ret_err = xasprintf("%s is not a readable LUKS container", s->paths[i]);
			luks_devices_free(v, n);
			return -ENODEV;
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
