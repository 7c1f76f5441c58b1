/* manifest_hash.c - parallel SHA-256 of the scanned files: one worker per
 * CPU, largest file first, each file hashed by hash_fd() (mmap windows,
 * SIGBUS caught) (see manifest.h). */
#include "boot/manifest.h"
#include "boot/manifest-internal.h"
#include "codec.h"
#include "hash.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

/* ---- parallel hashing ------------------------------------------------- */

static int cmp_idx_size_desc(const void *a, const void *b, void *arg)
{
	const uint64_t *sz = arg;
	uint64_t x = sz[*(const size_t *)a], y = sz[*(const size_t *)b];
	return x < y ? 1 : x > y ? -1 : 0;
}


struct hash_job {
	int bootfd;
	char *const *paths;
	size_t n;
	size_t *order;
	uint8_t (*out)[32];
	int *errs;
	atomic_size_t next;
	atomic_size_t files_done;
	atomic_uint_fast64_t bytes_done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t workers_left;
};

static void count_bytes(void *userdata, uint64_t n)
{
	struct hash_job *j = userdata;
	atomic_fetch_add(&j->bytes_done, n);
}

static int hash_one(struct hash_job *j, const char *path, uint8_t out[32])
{
	const char *rel = path;
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (startswith(rel, "./"))
		rel += 2;
	if (!*rel)
		return -EISDIR;
	/* No symlink anywhere in the path, and nothing outside bootfd: a
	 * directory swapped for a symlink between scan and open is refused. */
	{
		struct open_how how = {
			.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
		};
		fd = (int)syscall(SYS_openat2, j->bootfd, rel, &how, sizeof(how));
		if (fd < 0 && errno == ENOSYS)
			fd = openat(j->bootfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
				    O_NONBLOCK);
		if (fd < 0)
			return errno == EXDEV ? -ELOOP : -errno;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	struct hash_fd_opts ho = {.progress = count_bytes, .userdata = j,
				  .size = (uint64_t)st.st_size, .have_size = true};
	return hash_fd(HASH_SHA256, fd, &ho, out, NULL);
}

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;

	for (;;) {
		size_t k = atomic_fetch_add(&j->next, 1);
		if (k >= j->n)
			break;
		size_t i = j->order[k];
		j->errs[i] = hash_one(j, j->paths[i], j->out[i]);
		atomic_fetch_add(&j->files_done, 1);
	}
	pthread_mutex_lock(&j->lock);
	j->workers_left--;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int manifest_hash_files(int bootfd, char *const *paths, const uint64_t *sizes,
			size_t n, uint8_t (*out)[32], int *errs,
			manifest_progress_fn progress, void *userdata)
{
	struct hash_job j = {
		.bootfd = bootfd, .paths = paths, .n = n, .out = out, .errs = errs,
	};
	uint64_t total = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads;
	pthread_t *th;

	if (n == 0)
		return 0;
	if (ncpu < 1)
		ncpu = 1;
	nthreads = (size_t)ncpu;
	if (nthreads > 64)
		nthreads = 64;
	if (nthreads > n)
		nthreads = n;
	j.order = xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		j.order[i] = i;
		total += sizes ? sizes[i] : 0;
	}
	if (sizes) {
		/* Largest first: the longest file starts first, keeping the tail
		 * short when a few big initrds dominate. */
		qsort_r(j.order, n, sizeof(size_t), cmp_idx_size_desc, (void *)sizes);
	}
	atomic_init(&j.next, 0);
	atomic_init(&j.files_done, 0);
	atomic_init(&j.bytes_done, 0);
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	th = xcalloc(nthreads, sizeof(pthread_t));
	size_t started = 0;
	for (size_t i = 0; i < nthreads; i++) {
		pthread_mutex_lock(&j.lock);
		j.workers_left++;
		pthread_mutex_unlock(&j.lock);
		if (pthread_create(&th[i], NULL, hash_worker, &j) != 0) {
			pthread_mutex_lock(&j.lock);
			j.workers_left--;
			pthread_mutex_unlock(&j.lock);
			break;
		}
		started++;
	}
	if (started == 0) {
		/* No threads: do the work here. */
		j.workers_left = 1;
		hash_worker(&j);
	}
	pthread_mutex_lock(&j.lock);
	while (j.workers_left > 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&j.cond, &j.lock, &ts);
		if (progress && j.workers_left > 0) {
			pthread_mutex_unlock(&j.lock);
			progress(userdata, atomic_load(&j.bytes_done), total,
				 atomic_load(&j.files_done), n);
			pthread_mutex_lock(&j.lock);
		}
	}
	pthread_mutex_unlock(&j.lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (progress)
		progress(userdata, atomic_load(&j.bytes_done), total, n, n);
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.cond);
	free(th);
	free(j.order);
	return 0;
}
