/* libFuzzer target: the CBFS writer on a parsed-then-edited image. After
 * each edit the image must parse again and hold what was written; a
 * refused edit must leave the image as it was. */
#include "cbfs.h"
#include "cbfs_write.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_has(const uint8_t *img, size_t size, const char *name, const uint8_t *d,
		      size_t n)
{
	struct cbfs c;
	const struct cbfs_file *f;
	if (cbfs_parse(img, size, NULL, &c) < 0)
		abort();
	f = cbfs_find(&c, name);
	if (!f || f->len != n || memcmp(cbfs_data(&c, f), d, n))
		abort();
	cbfs_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cbfs c;
	uint8_t *img, *save;
	char first[CBFS_WRITE_NAME_MAX + 1] = "";
	size_t n = size < 300 ? size : 300;
	size_t kept;
	int r;

	if (size > 1024 * 1024)
		return 0;
	if (cbfs_parse(data, size, NULL, &c) < 0)
		return 0;
	for (size_t i = 0; i < c.n; i++)
		if (*c.files[i].name && strlen(c.files[i].name) <= CBFS_WRITE_NAME_MAX &&
		    c.files[i].type != CBFS_TYPE_NULL && c.files[i].type != CBFS_TYPE_DELETED) {
			strcpy(first, c.files[i].name);
			break;
		}
	cbfs_free(&c);
	img = malloc(size ? size : 1);
	save = malloc(size ? size : 1);
	memcpy(img, data, size);

	memcpy(save, img, size);
	r = cbfs_add_file(img, size, NULL, "heads/initrd/etc/config.user", CBFS_TYPE_RAW, data, n);
	if (r == 0)
		check_has(img, size, "heads/initrd/etc/config.user", data, n);
	else if (memcmp(img, save, size))
		abort();

	memcpy(save, img, size);
	r = cbfs_replace_file(img, size, NULL, "fuzz", CBFS_TYPE_RAW, data + size - n, n);
	if (r == 0)
		check_has(img, size, "fuzz", data + size - n, n);
	else if (memcmp(img, save, size))
		abort();

	if (*first) {
		memcpy(save, img, size);
		r = cbfs_remove_file(img, size, NULL, first);
		if (r == 0) {
			if (cbfs_parse(img, size, NULL, &c) < 0)
				abort();
			cbfs_free(&c);
		} else if (memcmp(img, save, size)) {
			abort();
		}
	}

	memcpy(save, img, size);
	r = cbfs_carry_owner_files(data, size, img, size, &kept);
	if (r < 0 && memcmp(img, save, size))
		abort();
	free(save);
	free(img);
	return 0;
}
