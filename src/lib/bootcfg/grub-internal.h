/* grub-internal.h - what the files of the GRUB interpreter share: its
 * bounds, the AST and the interpreter state (not a public interface). */
#ifndef HEADS_BOOTCFG_GRUB_INTERNAL_H
#define HEADS_BOOTCFG_GRUB_INTERNAL_H

#include "internal.h"

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_STEPS 2000000u
#define MAX_LOOP 100000u
#define MAX_WORD (256u * 1024)
#define MAX_VARS 4096u
#define MAX_VALUE (1024u * 1024)
#define MAX_FIELDS 65536u /* words produced by one command */
#define MAX_EXPANDED (16u * 1024 * 1024) /* bytes produced by expansions per parse */

/* ---- AST ------------------------------------------------------------- */

enum node_type { N_SIMPLE, N_IF, N_FOR, N_WHILE, N_UNTIL, N_FUNC, N_MENU };

struct node {
	enum node_type type;
	const char *file;
	unsigned line;
	char **words; /* raw source text of each word */
	size_t n_words, cap_words;
	struct node *cond, *body, *els; /* lists linked through next */
	int menu_kind; /* 0 menuentry, 1 submenu, 2 hiddenentry */
	struct node *next;
	struct node *all_next; /* every node, for freeing */
};

struct parsed_file {
	char *name;
	char *text;
	struct parsed_file *next;
};

struct var {
	char *name, *value;
	bool exported;
};

struct ctx {
	struct var *v;
	size_t n;
};

struct func {
	char *name;
	struct node *body;
};

struct item {
	char *title;
	char **args; /* args[0] = title */
	size_t n_args;
	char *id;
	struct node *body;     /* parsed body */
	bool submenu, hidden;
};

struct menu {
	struct item *v;
	size_t n;
};

struct loader {
	bool any;
	enum boot_kind kind;
	char *kernel;
	struct sbuf cmdline;
	char **initrd;
	size_t n_initrd;
	struct boot_module *modules;
	size_t n_modules;
};

struct interp {
	struct boot_view *view;
	const char *config;
	char *prefix;          /* directory of the top configuration, "/grub" */
	struct ctx *ctx;
	struct func *funcs;
	size_t n_funcs;
	char **argv;           /* positional: argv[0] = $1 */
	size_t argc;
	struct menu *menu;
	struct loader *loader; /* non-NULL while running an entry */
	unsigned steps, depth;
	size_t expanded;
	const char *cur_file; /* command being run, for messages */
	unsigned cur_line;
	int status;
	bool returning, breaking, exiting, aborted;
	int error;             /* fatal bound error */
	struct node *nodes;    /* all nodes */
	struct parsed_file *files;
	unsigned n_files;
	struct boot_entries *out;
};

/* ---- expansion ------------------------------------------------------------ */

struct fields {
	char **v;
	size_t n, cap;
};

static inline bool is_blank(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
static inline bool is_name_start(int c) { return c == '_' || (c < 128 && c >= 0 && isalpha(c)); }
static inline bool is_name(int c) { return c == '_' || (c < 128 && c >= 0 && isalnum(c)); }

/* grub_parse.c */
void grub_fatal(struct interp *in, int err, const char *file, unsigned line, const char *what);
struct node *grub_parse_text(struct interp *in, const char *name, const char *text, size_t len,
			     int *err);

/* grub_expand.c */
struct var *grub_var_find(struct ctx *c, const char *name);
void grub_var_set(struct interp *in, const char *name, const char *value);
void grub_var_unset(struct interp *in, const char *name);
void grub_ctx_free(struct ctx *c);
void grub_ctx_copy(struct ctx *dst, const struct ctx *src, bool exported_only);
void grub_fields_free(struct fields *f);
void grub_expand_word(struct interp *in, const char *raw, struct fields *out);
void grub_expand_words(struct interp *in, char **words, size_t n, struct fields *out);

/* grub_exec.c */
void grub_loader_reset(struct loader *l);
int grub_exec_list(struct interp *in, struct node *n);
int grub_run_file(struct interp *in, const char *path, bool must_exist);

/* grub.c */
int grub_run_blscfg(struct interp *in);

#endif
