/* fs.h - file system helpers with the safety properties Heads relies on.
 *
 * - fs_write_atomic(): the file at path is either the old content or the new
 *   one, never a mix: write to a temporary in the same directory, fsync it,
 *   rename over path, fsync the directory.
 * - fs_read_file(): bounded read; a file larger than max is -EFBIG (nothing
 *   is silently truncated). The buffer is NUL-terminated (len excludes it).
 * - fs_open_beneath(): open rel relative to a directory fd such that the
 *   result is guaranteed to be inside it: ".." components are refused
 *   lexically (-EXDEV) and symlinks are followed only if they stay beneath
 *   (openat2 RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS; an escape is -EXDEV).
 * - fs_path_join(): lexical join of root and rel (rel may start with '/',
 *   which means "relative to root"); refuses ".." components (-EXDEV) and
 *   empty root.
 * All return 0 (or an fd) on success, -errno on failure.
 */
#ifndef HEADS_FS_H
#define HEADS_FS_H

#include <stddef.h>
#include <dirent.h>
#include <sys/types.h>

/* Default bound for config-like files. */
#define FS_SMALL_FILE_MAX (1024 * 1024)

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
int fs_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
		       mode_t mode);

int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
int fs_read_fd(int fd, size_t max, char **ret, size_t *ret_len);

/* One line of fd into buf (at most max bytes; the '\n' not stored, a
 * trailing '\r' dropped), read a byte at a time so nothing past the newline
 * is consumed. *ret_len: the line's length (no NUL is written). -EPIPE: end
 * of file before any byte; -EFBIG: longer than max (the rest is left
 * unread). The one line reader under ui_read_line(), ui_read_secret_line()
 * and secret_read_line_fd(); a secret caller wipes buf, the byte in flight
 * is wiped here. */
int fs_read_line_into(int fd, void *buf, size_t max, size_t *ret_len);

/* True if rel has a ".." component. */
int fs_has_dotdot(const char *rel);

int fs_open_beneath(int dirfd, const char *rel, int flags, mode_t mode);
int fs_path_join(const char *root, const char *rel, char **ret);

/* A DIR stream over directory name beneath dirfd ("." for dirfd itself),
 * on its own descriptor (closedir() leaves dirfd open); no symlink is
 * followed. 0 or -errno. */
int fs_opendir_at(int dirfd, const char *name, DIR **ret);

/* mkdir -p with mode for the created components. */
int fs_mkdir_p(const char *path, mode_t mode);

/* fsync the directory containing path (or path itself if a directory). */
int fs_fsync_dir_of(const char *path);

#endif
