/* signed.c - the signed description of /boot (see signed.h). */
#include "boot/signed.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

const struct boot_signed_file *boot_signed_file(const struct boot_signed *s, const char *name)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_files; i++)
		if (streq(s->files[i].name, name))
			return &s->files[i];
	return NULL;
}

void boot_signed_free(struct boot_signed *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_files; i++) {
		free(s->files[i].name);
		free(s->files[i].data);
	}
	free(s->files);
	manifest_free(&s->hashes);
	manifest_tree_free(&s->tree);
	manifest_links_free(&s->links);
	manifest_free(&s->defaults);
	memset(s, 0, sizeof(*s));
}
