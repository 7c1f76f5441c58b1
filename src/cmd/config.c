/* heads config get|set|list - Heads configuration files without a shell. */
#include "cmd/cmd.h"
#include "board.h"
#include "config.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>


static const char usage[] =
	"Usage: heads config get KEY [--file F]...\n"
	"       heads config list [--file F]...\n"
	"       heads config set KEY VALUE [--file F]\n"
	"\n"
	"Reads Heads configuration files (`export CONFIG_X=\"value\"` lines) without a\n"
	"shell. Files are layered in the order given; the last assignment of a key\n"
	"wins. Without --file: " BOARD_CONFIG " then " BOARD_USER_CONFIG
	" (missing ones\n"
	"are skipped). `set` replaces or appends the key atomically in one file\n"
	"(default " BOARD_USER_CONFIG ").\n"
	"\n"
	"Exit status: 0 ok; 1 key not set (get); 2 usage error or a malformed file,\n"
	"reported as FILE:LINE: reason.\n";

struct files {
	char **v;
	size_t n;
	bool explicit_files;
};

static int parse_file_opts(int argc, char **argv, struct files *f, int *ret_optind)
{
	static const struct option opts[] = {
		{"file", required_argument, NULL, 'f'},
		{},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		if (c != 'f')
			return cmd_usage_error("config", "bad option");
		f->v = xrealloc(f->v, (f->n + 1) * sizeof(char *));
		f->v[f->n++] = optarg;
		f->explicit_files = true;
	}
	*ret_optind = optind;
	return 0;
}

static int load_layers(const struct files *f, struct config *c)
{
	_cleanup_free_ char *err = NULL;

	if (board_config_load(c, f->explicit_files ? f->v : NULL,
			      f->explicit_files ? f->n : 0, &err) < 0) {
		fprintf(stderr, "heads config: %s\n", err);
		return HEADS_EXIT_USAGE;
	}
	return 0;
}

static int do_get(int argc, char **argv)
{
	struct files f = {0};
	struct config c;
	const char *v;
	int oi, r;

	if ((r = parse_file_opts(argc, argv, &f, &oi)))
		return r;
	if (argc - oi != 1) {
		free(f.v);
		return cmd_usage_error("config", "get takes exactly one KEY");
	}
	config_init(&c);
	r = load_layers(&f, &c);
	if (r == 0) {
		v = config_get(&c, argv[oi]);
		if (v)
			printf("%s\n", v);
		else {
			fprintf(stderr, "heads config: %s is not set\n", argv[oi]);
			r = HEADS_EXIT_FAIL;
		}
	}
	config_free(&c);
	free(f.v);
	return r;
}

static int do_list(int argc, char **argv)
{
	struct files f = {0};
	struct config c;
	const struct config_entry **eff = NULL;
	int oi, r;

	if ((r = parse_file_opts(argc, argv, &f, &oi)))
		return r;
	if (argc != oi) {
		free(f.v);
		return cmd_usage_error("config", "list takes no arguments");
	}
	config_init(&c);
	r = load_layers(&f, &c);
	if (r == 0) {
		size_t n = config_effective(&c, &eff);
		for (size_t i = 0; i < n; i++) {
			char *q = config_quote(eff[i]->value);
			printf("%s=%s\n", eff[i]->key, q);
			free(q);
		}
		free(eff);
	}
	config_free(&c);
	free(f.v);
	return r;
}

static int do_set(int argc, char **argv)
{
	struct files f = {0};
	char *err = NULL;
	int oi, r;

	if ((r = parse_file_opts(argc, argv, &f, &oi)))
		return r;
	if (argc - oi != 2 || f.n > 1) {
		free(f.v);
		return cmd_usage_error("config", "set takes KEY VALUE and at most one --file");
	}
	r = config_set(f.n ? f.v[0] : BOARD_USER_CONFIG, argv[oi], argv[oi + 1], &err);
	free(f.v);
	if (r < 0) {
		fprintf(stderr, "heads config: %s\n", err ? err : strerror(-r));
		free(err);
		return HEADS_EXIT_USAGE;
	}
	return HEADS_EXIT_OK;
}

static const struct heads_subcommand subs[] = {
	{"get", "print the effective value of a key", do_get},
	{"list", "print every effective KEY=\"value\"", do_list},
	{"set", "set a key in a config file atomically", do_set},
	{},
};

static int run(int argc, char **argv);
const struct heads_command cmd_config = {
	.name = "config",
	.summary = "read and change Heads configuration files",
	.usage = usage,
	.run = run,
};

static int run(int argc, char **argv)
{
	return cmd_run_sub(&cmd_config, subs, argc, argv);
}
