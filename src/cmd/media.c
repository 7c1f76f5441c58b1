/* heads media scan - removable media, their ISO files and boot configurations. */
#include "cmd/cmd.h"
#include "iso/media.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

static const char usage[] =
	"Usage: heads media scan [--device DEV]... [--json]\n"
	"\n"
	"Lists removable block devices (sysfs removable=1 or on a USB bus) or the\n"
	"devices given, their file systems (whole disks written with dd - ISO 9660,\n"
	"hybrid GPT/MBR - and partitions), the *.iso files on them (at most 256,\n"
	"8 directory levels, no symlink followed; reverse path order) with the\n"
	"signature found beside each, and the boot entries of the medium's own\n"
	"configuration. vfat, exfat, ext2/3/4 and udf are mounted read-only\n"
	"(nosuid,nodev,noexec) in a private mount namespace and unmounted after;\n"
	"ISO 9660 is read directly from the device, nothing mounted.\n"
	"\n"
	"  --device DEV   scan DEV (repeatable) instead of discovering removable\n"
	"                 disks (loop devices are never \"removable\")\n"
	"  --json         [{device, disk, whole_disk, fstype, label, uuid, size,\n"
	"                 status, error, isos[{path, size, signature}],\n"
	"                 isos_truncated, entries[...as heads entries --json]}]\n"
	"Default output: per volume \"<device><TAB><fstype><TAB><label><TAB><status>\",\n"
	"then \"  iso<TAB><path><TAB><size><TAB><signature or ->\" and\n"
	"\"  entry<TAB><n><TAB><kind><TAB><title>\" lines.\n"
	"\n"
	"Exit status: 0 ok (also when nothing is found); 1 a device could not be\n"
	"read; 2 usage error.\n";

static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_json(const struct media_scan *s)
{
	printf("[");
	for (size_t i = 0; i < s->n; i++) {
		const struct media_volume *v = &s->v[i];
		printf("%s\n {\"device\": ", i ? "," : "");
		json_str(v->device);
		printf(", \"disk\": ");
		json_str(v->disk);
		printf(", \"whole_disk\": %s, \"fstype\": ", v->whole_disk ? "true" : "false");
		json_str(v->fstype);
		printf(", \"label\": ");
		json_str(v->label);
		printf(", \"uuid\": ");
		json_str(v->uuid);
		printf(", \"size\": %llu, \"status\": ", (unsigned long long)v->size);
		json_str(media_status_name(v->status));
		printf(", \"error\": ");
		json_str(v->error);
		printf(", \"isos\": [");
		for (size_t k = 0; k < v->n_isos; k++) {
			printf("%s{\"path\": ", k ? ", " : "");
			json_str(v->isos[k].path);
			printf(", \"size\": %llu, \"signature\": ", (unsigned long long)v->isos[k].size);
			json_str(v->isos[k].signature);
			printf("}");
		}
		printf("], \"isos_truncated\": %s, \"entries\": ", v->isos_truncated ? "true" : "false");
		_cleanup_free_ char *j = bootcfg_to_json(&v->entries);
		fputs(j, stdout);
		printf("}");
	}
	printf("%s]\n", s->n ? "\n" : "");
}

static void print_text(const struct media_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct media_volume *v = &s->v[i];
		_cleanup_free_ char *label = str_escape_controls(v->label ? v->label : "", false);
		printf("%s\t%s\t%s\t%s\n", v->device, v->fstype ? v->fstype : "-", label,
		       media_status_name(v->status));
		if (v->error)
			printf("  error\t%s\n", v->error);
		for (size_t k = 0; k < v->n_isos; k++) {
			_cleanup_free_ char *p = str_escape_controls(v->isos[k].path, false);
			printf("  iso\t%s\t%llu\t%s\n", p, (unsigned long long)v->isos[k].size,
			       v->isos[k].signature ? v->isos[k].signature : "-");
		}
		if (v->isos_truncated)
			printf("  iso\t(more not listed)\n");
		for (size_t k = 0; k < v->entries.n; k++) {
			_cleanup_free_ char *t = str_escape_controls(v->entries.v[k].title, false);
			printf("  entry\t%zu\t%s\t%s\n", k + 1, boot_kind_to_string(v->entries.v[k].kind), t);
		}
	}
}

static int do_scan(int argc, char **argv)
{
	static const struct option opts[] = {
		{"device", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	char **devs = NULL;
	size_t n = 0;
	bool json = false, given = false;
	struct media_scan s = {0};
	int c, r, status = HEADS_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			devs = xrealloc(devs, (n + 1) * sizeof(*devs));
			devs[n++] = xstrdup(optarg);
			given = true;
			break;
		case 'j': json = true; break;
		case 'h': fputs(usage, stdout); media_strv_free(devs, n); return HEADS_EXIT_OK;
		default: media_strv_free(devs, n); return cmd_usage_error("media scan", "bad option");
		}
	}
	if (optind != argc) {
		media_strv_free(devs, n);
		return cmd_usage_error("media scan", "unexpected argument '%s'", argv[optind]);
	}
	if (!given && media_discover(&devs, &n) < 0)
		return HEADS_EXIT_FAIL;
	/* Mounts live in a namespace of our own: none outlives this process,
	 * whatever happens to it, and nobody else sees them. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		log_error("cannot make a private mount namespace: %s", strerror(errno));
		media_strv_free(devs, n);
		return HEADS_EXIT_FAIL;
	}
	r = media_scan(devs, n, &s);
	media_strv_free(devs, n);
	if (r < 0)
		return HEADS_EXIT_FAIL;
	if (json)
		print_json(&s);
	else
		print_text(&s);
	for (size_t i = 0; i < s.n; i++)
		if (s.v[i].status == MEDIA_ERROR)
			status = HEADS_EXIT_FAIL;
	media_scan_free(&s);
	return fflush(stdout) == 0 ? status : HEADS_EXIT_FAIL;
}

static const struct heads_subcommand subs[] = {
	{"scan", "removable media: file systems, ISO files, boot entries", do_scan},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_media = {
	.name = "media",
	.summary = "removable boot media (USB): file systems, ISO files, boot configurations",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_media, subs, argc, argv);
}
