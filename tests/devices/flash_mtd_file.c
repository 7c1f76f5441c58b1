/* flash_mtd_file.c - the test build's MTD device model (heads-flash-test
 * only; `heads` leaves these hooks undefined and opens /dev/mtdN).
 *
 * The host cannot load mtdram/block2mtd, so linux_mtd:dev=N opens the
 * plain file $HEADS_FLASH_MTD_DIR/mtdN, and the two MTD ioctls flash.c
 * uses are modelled on it the way the kernel's MTD layer answers them:
 * - MEMGETINFO: type MTD_NORFLASH, flags MTD_CAP_NORFLASH, size = the
 *   file's size, erasesize = $HEADS_FLASH_MTD_ERASESIZE (default 64 KiB),
 *   writesize 1 (NOR);
 * - MEMERASE: EINVAL unless start and length are erase-block aligned and
 *   inside the device (mtdchar/mtdcore check this), else the blocks become
 *   0xff. $HEADS_FLASH_MTD_FAIL_ERASE="OFFSET:COUNT": the first COUNT
 *   erases of the block holding OFFSET fail with EIO (a block that no
 *   longer erases).
 * pread/pwrite go to the file as they go to mtdchar. Each erase is counted
 * in $HEADS_FLASH_MTD_DIR/erases.log ("OFFSET LENGTH" a line) so a test can
 * check that only the blocks of changed pieces were erased. */
#include "flash.h"
#include "util.h"

#include <errno.h>
#include <mtd/mtd-user.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_buf[4096];

const char *flash_test_mtd_path(unsigned dev)
{
	const char *dir = getenv("HEADS_FLASH_MTD_DIR");
	snprintf(path_buf, sizeof(path_buf), "%s/mtd%u", dir ? dir : "/nonexistent", dev);
	return path_buf;
}

static uint32_t erasesize(void)
{
	const char *s = getenv("HEADS_FLASH_MTD_ERASESIZE");
	return s ? (uint32_t)strtoul(s, NULL, 0) : 64u * 1024;
}

static int model_erase(int fd, const struct erase_info_user *ei)
{
	static bool parsed;
	static unsigned long long target, remaining;
	struct stat st;
	uint32_t es = erasesize();
	const char *dir = getenv("HEADS_FLASH_MTD_DIR");

	if (fstat(fd, &st) < 0)
		return -1;
	if (ei->length == 0 || ei->start % es || ei->length % es ||
	    (unsigned long long)ei->start + ei->length > (unsigned long long)st.st_size) {
		errno = EINVAL;
		return -1;
	}
	if (!parsed) {
		const char *s = getenv("HEADS_FLASH_MTD_FAIL_ERASE");
		char *colon;
		parsed = true;
		if (s && (colon = strchr(s, ':'))) {
			target = strtoull(s, NULL, 0);
			remaining = strtoull(colon + 1, NULL, 0);
		}
	}
	if (remaining && target >= ei->start && target < (unsigned long long)ei->start + ei->length) {
		remaining--;
		errno = EIO;
		return -1;
	}
	if (dir) {
		char log[4200];
		FILE *f;
		snprintf(log, sizeof(log), "%s/erases.log", dir);
		f = fopen(log, "a");
		if (f) {
			fprintf(f, "0x%x 0x%x\n", ei->start, ei->length);
			fclose(f);
		}
	}
	_cleanup_free_ uint8_t *ff = xmalloc(ei->length);
	memset(ff, 0xff, ei->length);
	if (pwrite(fd, ff, ei->length, ei->start) != (ssize_t)ei->length) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int flash_test_mtd_ioctl(int fd, unsigned long req, void *arg)
{
	if (req == MEMGETINFO) {
		struct mtd_info_user *info = arg;
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -1;
		if (!S_ISREG(st.st_mode)) {
			errno = ENOTTY;
			return -1;
		}
		memset(info, 0, sizeof(*info));
		info->type = MTD_NORFLASH;
		info->flags = MTD_CAP_NORFLASH;
		info->size = (uint32_t)st.st_size;
		info->erasesize = erasesize();
		info->writesize = 1;
		return 0;
	}
	if (req == MEMERASE)
		return model_erase(fd, arg);
	errno = ENOTTY;
	return -1;
}
