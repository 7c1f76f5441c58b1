/* model_transport.c - the test build's --test-model: `heads hotp` talking
 * to a device model of tests/devices/ in-process, with the model's state
 * kept in a file between runs (so enrolment, then verification, then a
 * rolled-back counter can be separate commands). Linked only into
 * heads-dongle-test; `heads` has no definition of dongle_test_model_open
 * and refuses --test-model.
 *
 * SPEC: nkpro:STATE | librem:STATE | storage:STATE | nk3:STATE | canokey |
 * none. A missing STATE file is a factory-fresh device (NK Pro family:
 * Admin PIN 12345678; NK3: no Secrets PIN). STATE is the model struct as
 * bytes behind a 8-byte tag ("NKHIDM01"/"NK3MOD01"). */
#include "dongle/dongle.h"
#include "dongle/transport.h"
#include "nk3_model.h"
#include "nk_hid_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum dongle_result dongle_test_model_open(const char *spec, struct dongle **ret)
	__attribute__((visibility("hidden")));

struct saved {
	char path[4096];
	const char *tag;
	void *model;
	size_t size;
	struct dongle_transport *inner;
};

static int load(const char *path, const char *tag, void *model, size_t size)
{
	char t[8];
	FILE *f = fopen(path, "rb");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (fread(t, 1, 8, f) != 8 || memcmp(t, tag, 8) || fread(model, 1, size, f) != size) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	return 1;
}

static int t_send(void *ctx, const uint8_t *buf, size_t len)
{
	struct saved *s = ctx;
	return s->inner->send(s->inner->ctx, buf, len);
}

static int t_recv(void *ctx, uint8_t *buf, size_t cap, size_t *ret_len)
{
	struct saved *s = ctx;
	return s->inner->recv(s->inner->ctx, buf, cap, ret_len);
}

static void t_close(void *ctx)
{
	struct saved *s = ctx;
	FILE *f = fopen(s->path, "wb");

	if (!f || fwrite(s->tag, 1, 8, f) != 8 || fwrite(s->model, 1, s->size, f) != s->size) {
		fprintf(stderr, "model: cannot save %s\n", s->path);
		abort();
	}
	fclose(f);
	free(s->inner);
	free(s->model);
	free(s);
}

enum dongle_result dongle_test_model_open(const char *spec, struct dongle **ret)
{
	const char *colon = strchr(spec, ':');
	size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);
	struct dongle_transport *t;
	const struct dongle_id *id;
	struct saved *s;
	int r;

	if (!strcmp(spec, "none"))
		return DONGLE_NO_DONGLE;
	if (!strcmp(spec, "canokey"))
		return DONGLE_NOT_SUPPORTED;
	if (!colon || strlen(colon + 1) >= sizeof(s->path))
		return DONGLE_CONNECTION_ERROR;
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	strcpy(s->path, colon + 1);
	if (kl == 3 && !strncmp(spec, "nk3", 3)) {
		struct nk3_model *m = nk3_model_new();

		id = dongle_id_lookup(0x20a0, 0x42b2);
		s->tag = "NK3MOD01";
		s->size = sizeof(*m);
		r = load(s->path, s->tag, m, s->size);
		/* a new process: the reader is powered off, nothing queued */
		m->powered = false;
		m->q_count = m->ext_pending = 0;
		m->selected = NK3M_NONE;
		m->pin_verified = false;
		s->model = m;
		s->inner = nk3_model_transport(m);
	} else {
		struct nk_hid_model *m = nk_hid_model_new();

		if (kl == 5 && !strncmp(spec, "nkpro", 5))
			id = dongle_id_lookup(0x20a0, 0x4108);
		else if (kl == 6 && !strncmp(spec, "librem", 6))
			id = dongle_id_lookup(0x316d, 0x4c4b);
		else if (kl == 7 && !strncmp(spec, "storage", 7))
			id = dongle_id_lookup(0x20a0, 0x4109);
		else {
			free(m);
			free(s);
			return DONGLE_CONNECTION_ERROR;
		}
		s->tag = "NKHIDM01";
		s->size = sizeof(*m);
		r = load(s->path, s->tag, m, s->size);
		m->tmp_valid = false; /* a session token does not survive a replug */
		s->model = m;
		s->inner = nk_hid_model_transport(m);
	}
	if (r < 0) {
		fprintf(stderr, "model: bad state file %s\n", s->path);
		free(s->inner);
		free(s->model);
		free(s);
		return DONGLE_CONNECTION_ERROR;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		abort();
	*t = (struct dongle_transport){.name = "test-model", .proto = s->inner->proto,
				       .send = t_send, .recv = t_recv, .close = t_close, .ctx = s};
	return dongle_attach(t, id, ret);
}
