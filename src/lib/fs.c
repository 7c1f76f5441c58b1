#include "fs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int fs_fsync_dir_of(const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	_cleanup_close_ int fd = -1;
	struct stat st;
	const char *dir = path;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		dir = dirname(copy);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int fs_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
		       mode_t mode)
{
	char tmp[64];
	unsigned char rnd[8];
	int fd, r;

	if (strchr(name, '/'))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return -EIO;
	snprintf(tmp, sizeof(tmp), ".heads-tmp-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	r = write_full(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return -errno;
	return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *d = xstrdup(path), *b = xstrdup(path);
	_cleanup_close_ int dfd = -1;
	const char *base = basename(b);

	if (!*path || !*base || streq(base, ".") || streq(base, "..") || streq(base, "/"))
		return -EINVAL;
	dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	return fs_write_atomic_at(dfd, base, data, len, mode);
}

int fs_read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf;

	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;
		if (len == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int fs_read_line_into(int fd, void *buf, size_t max, size_t *ret_len)
{
	unsigned char *out = buf;
	size_t len = 0;
	bool any = false;

	for (;;) {
		unsigned char c;
		ssize_t k = read(fd, &c, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0) {
			if (!any)
				return -EPIPE;
			break;
		}
		any = true;
		if (c == '\n')
			break;
		if (len >= max) {
			explicit_bzero(&c, 1);
			return -EFBIG; /* the rest of the line is left unread */
		}
		out[len++] = c;
		explicit_bzero(&c, 1);
	}
	if (len > 0 && out[len - 1] == '\r')
		out[--len] = 0;
	*ret_len = len;
	return 0;
}

int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max)
		return -EFBIG;
	return fs_read_fd(fd, max, ret, ret_len);
}

int fs_has_dotdot(const char *rel)
{
	const char *p = rel;
	while (*p) {
		const char *e = strchrnul(p, '/');
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p = *e ? e + 1 : e;
	}
	return 0;
}

int fs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	if (fs_has_dotdot(rel))
		return -EXDEV;
	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	return (int)fd;
}

int fs_path_join(const char *root, const char *rel, char **ret)
{
	size_t rl;
	if (!root || !*root)
		return -EINVAL;
	if (fs_has_dotdot(rel))
		return -EXDEV;
	while (*rel == '/')
		rel++;
	rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (!*rel)
		*ret = xstrndup(root, rl);
	else if (rl == 1 && root[0] == '/')
		*ret = xasprintf("/%s", rel);
	else
		*ret = xasprintf("%.*s/%s", (int)rl, root, rel);
	return 0;
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int fs_opendir_at(int dirfd, const char *name, DIR **ret)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret = d;
	return 0;
}
