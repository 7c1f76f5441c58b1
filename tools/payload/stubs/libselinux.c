/* libselinux.so.1 stand-in for boards without SELinux (the real one pulls
 * in libpcre2, 0.8 MiB together): libdevmapper asks is_selinux_enabled()
 * first and does nothing else with SELinux when it is 0. The payload builder
 * checks that it defines every symbol the payload imports. */
#include <errno.h>
#include <stddef.h>

int is_selinux_enabled(void) { return 0; }
void freecon(char *con) { (void)con; }
int matchpathcon(const char *path, unsigned mode, char **con)
{
	(void)path; (void)mode;
	if (con)
		*con = NULL;
	errno = ENOTSUP;
	return -1;
}
int setfscreatecon(const char *con) { (void)con; return 0; }
int lsetfilecon(const char *path, const char *con) { (void)path; (void)con; return 0; }
