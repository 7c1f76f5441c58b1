/* coreboot.c - coreboot's PCR 2 measurements, coreboot table, cbmem TPM log
 * (see coreboot.h). */
#include "coreboot.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const pcr2_files[] = {
	"bootblock", "fallback/romstage", "fallback/postcar", "fallback/ramstage",
	"fallback/payload",
};

static void sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 32;
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, a, alen) || (b && !EVP_DigestUpdate(ctx, b, blen)) ||
	    !EVP_DigestFinal_ex(ctx, out, &n))
		abort();
	EVP_MD_CTX_free(ctx);
}

int coreboot_measurements(const struct cbfs *c, struct coreboot_measurement *ret, size_t *ret_n)
{
	const struct fmap_area *a;
	size_t n = 0;

	if (!c->has_fmap || !(a = fmap_find(&c->fmap, "FMAP")) || a->offset > c->rom_len ||
	    a->size > c->rom_len - a->offset)
		return -ENOENT;
	snprintf(ret[n].name, sizeof(ret[n].name), "FMAP: FMAP");
	sha256(c->rom + a->offset, a->size, NULL, 0, ret[n].sha256);
	n++;
	for (size_t i = 0; i < sizeof(pcr2_files) / sizeof(pcr2_files[0]); i++) {
		const struct cbfs_file *f = cbfs_find(c, pcr2_files[i]);
		if (!f) {
			if (i == 0)
				return -ENOENT;
			continue;
		}
		snprintf(ret[n].name, sizeof(ret[n].name), "CBFS: %s", pcr2_files[i]);
		sha256(cbfs_data(c, f), f->len, NULL, 0, ret[n].sha256);
		n++;
	}
	*ret_n = n;
	return 0;
}

int coreboot_predict_pcr2(const struct cbfs *c, uint8_t ret[32])
{
	struct coreboot_measurement m[6];
	uint8_t pcr[32] = {0};
	size_t n;
	int r = coreboot_measurements(c, m, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		sha256(pcr, 32, m[i].sha256, 32, pcr);
	memcpy(ret, pcr, 32);
	return 0;
}

/* --- coreboot table ------------------------------------------------------ */

#define LB_HEADER_LEN 24
#define LB_TAG_FORWARD 0x11u
#define LB_TAG_CBMEM_ENTRY 0x31u

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p + 4) << 32 | le32(p); }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }

/* coreboot's compute_ip_checksum(): 0 over a block holding its checksum. */
static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i++) {
		uint32_t v = p[i];
		if (i & 1)
			v <<= 8;
		sum += v;
		sum = (sum & 0xffff) + (sum >> 16);
	}
	return (uint16_t)(~sum & 0xffff);
}

void cbtable_free(struct cbtable *t)
{
	if (!t)
		return;
	free(t->cbmem);
	memset(t, 0, sizeof(*t));
}

/* A valid header at buf (len bytes available): the table's length. */
static int header_ok(const uint8_t *p, size_t len, size_t *ret_total)
{
	uint32_t hbytes, tbytes;
	if (len < LB_HEADER_LEN || memcmp(p, "LBIO", 4))
		return -EBADMSG;
	hbytes = le32(p + 4);
	tbytes = le32(p + 12);
	if (hbytes != LB_HEADER_LEN || ip_checksum(p, LB_HEADER_LEN) != 0 ||
	    tbytes > CBTABLE_MAX)
		return -EBADMSG;
	*ret_total = LB_HEADER_LEN + (size_t)tbytes;
	return 0;
}

int cbtable_parse(const void *buf, size_t len, struct cbtable *ret)
{
	const uint8_t *p = buf;
	struct cbtable t = {0};
	size_t total, off, entries;
	uint32_t tbytes;
	int r = header_ok(p, len, &total);

	if (r < 0)
		return r;
	if (total > len)
		return -EBADMSG;
	tbytes = le32(p + 12);
	if (ip_checksum(p + LB_HEADER_LEN, tbytes) != le16(p + 16) && tbytes)
		return -EBADMSG;
	entries = le32(p + 20);
	if (entries > CBTABLE_MAX_ENTRIES)
		return -EBADMSG;
	off = LB_HEADER_LEN;
	for (size_t i = 0; i < entries; i++) {
		uint32_t tag, size;
		if (total - off < 8)
			goto bad;
		tag = le32(p + off);
		size = le32(p + off + 4);
		if (size < 8 || size > total - off)
			goto bad;
		if (tag == LB_TAG_FORWARD) {
			if (size < 16)
				goto bad;
			t.forward = le64(p + off + 8);
		} else if (tag == LB_TAG_CBMEM_ENTRY) {
			if (size < 24)
				goto bad;
			t.cbmem = xrealloc(t.cbmem, (t.n + 1) * sizeof(*t.cbmem));
			t.cbmem[t.n].address = le64(p + off + 8);
			t.cbmem[t.n].size = le32(p + off + 16);
			t.cbmem[t.n].id = le32(p + off + 20);
			t.n++;
		}
		off += size;
	}
	*ret = t;
	return 0;
bad:
	cbtable_free(&t);
	return -EBADMSG;
}

/* --- cbmem TPM 2.0 log ---------------------------------------------------- */

int coreboot_tpm2_log_len(const void *buf, size_t len, size_t *ret)
{
	const uint8_t *p = buf, *v;
	uint32_t esize, entry_size;
	uint16_t max, num;
	size_t hlen;

	/* TCG_PCR_EVENT: pcr, type, sha1[20], event size, event (Spec ID) */
	if (len < 32)
		return -EBADMSG;
	esize = le32(p + 28);
	if (le32(p + 4) != 3 /* EV_NO_ACTION */ || esize < 15 + 1 || esize > len - 32 ||
	    memcmp(p + 32, "Spec ID Event03", 16))
		return -EBADMSG;
	hlen = 32 + (size_t)esize;
	/* coreboot's vendor info is the last 15 bytes of the event, after its size byte */
	if (p[hlen - 16] != 15)
		return -EBADMSG;
	v = p + hlen - 15;
	if (le32(v + 3) != 0x32544243u /* "CBT2" */)
		return -EBADMSG;
	max = le16(v + 7);
	num = le16(v + 9);
	entry_size = le32(v + 11);
	if (num > max || entry_size < 14 || entry_size > 4096 ||
	    (size_t)num * entry_size > len - hlen)
		return -EBADMSG;
	*ret = hlen + (size_t)num * entry_size;
	return 0;
}

/* mmap [addr, addr+len) of fd read-only, copy it out. */
static int phys_copy(int fd, uint64_t addr, size_t len, uint8_t **ret)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t base = addr & ~(uint64_t)(pg - 1);
	size_t mlen = (size_t)(addr - base) + len;
	void *m = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, (off_t)base);
	uint8_t *out;

	if (m == MAP_FAILED)
		return -errno;
	out = xmalloc(len ? len : 1);
	memcpy(out, (uint8_t *)m + (addr - base), len);
	munmap(m, mlen);
	*ret = out;
	return 0;
}

/* The table whose header is at physical address at, forwards followed. */
static int table_at(int fd, uint64_t at, struct cbtable *ret)
{
	for (int hop = 0; hop < 3; hop++) {
		_cleanup_free_ uint8_t *hdr = NULL, *tab = NULL;
		struct cbtable t;
		size_t total;
		if (phys_copy(fd, at, LB_HEADER_LEN, &hdr) < 0 ||
		    header_ok(hdr, LB_HEADER_LEN, &total) < 0 ||
		    phys_copy(fd, at, total, &tab) < 0 || cbtable_parse(tab, total, &t) < 0)
			return -EBADMSG;
		if (!t.forward) {
			*ret = t;
			return 0;
		}
		at = t.forward;
		cbtable_free(&t);
	}
	return -ELOOP;
}

static int find_table(int fd, struct cbtable *ret)
{
	static const struct {
		uint64_t start, len;
	} ranges[] = {{0, 0x1000}, {0xf0000, 0x10000}};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		uint8_t *low = NULL;
		int r = phys_copy(fd, ranges[i].start, ranges[i].len, &low);
		if (r < 0) {
			log_debug("coreboot: mmap of 0x%llx: %s", (unsigned long long)ranges[i].start,
				  strerror(-r));
			continue;
		}
		for (size_t off = 0; off + LB_HEADER_LEN <= ranges[i].len; off += 16) {
			size_t total;
			if (header_ok(low + off, ranges[i].len - off, &total) < 0)
				continue;
			if (table_at(fd, ranges[i].start + off, ret) == 0) {
				free(low);
				return 0;
			}
		}
		free(low);
	}
	return -ENOENT;
}

/* log at debug level, return r */
#define debug_errno(r, ...) (log_debug(__VA_ARGS__), (r))

int coreboot_read_tpm_log(const char *mem, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(mem ? mem : "/dev/mem", O_RDONLY | O_CLOEXEC | O_SYNC);
	struct cbtable t;
	uint8_t *log_buf;
	size_t used;
	int r;

	if (fd < 0) {
		r = -errno;
		return debug_errno(r, "coreboot: %s: %s", mem ? mem : "/dev/mem", strerror(-r));
	}
	r = find_table(fd, &t);
	if (r < 0)
		return debug_errno(r, "coreboot: no coreboot table in low memory");
	for (size_t i = 0; i < t.n; i++) {
		if (t.cbmem[i].id != CBMEM_ID_TPM2_TCG_LOG)
			continue;
		if (t.cbmem[i].size > CBTABLE_MAX * 16) {
			cbtable_free(&t);
			return -EBADMSG;
		}
		r = phys_copy(fd, t.cbmem[i].address, t.cbmem[i].size, &log_buf);
		if (r < 0) {
			cbtable_free(&t);
			return debug_errno(r, "coreboot: mmap of the TPM log");
		}
		r = coreboot_tpm2_log_len(log_buf, t.cbmem[i].size, &used);
		cbtable_free(&t);
		if (r < 0) {
			free(log_buf);
			return debug_errno(r, "coreboot: the cbmem TPM log is not coreboot's TPM 2.0 log");
		}
		*ret = log_buf;
		*ret_len = used;
		return 0;
	}
	cbtable_free(&t);
	return debug_errno(-ENOENT, "coreboot: no TPM 2.0 log in cbmem");
}
