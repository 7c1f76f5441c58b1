/* config.h - Heads configuration files, parsed (never sourced by a shell).
 *
 * Accepted syntax, one assignment per logical line:
 *   # comment                       blank lines
 *   CONFIG_X=value                  export CONFIG_X=value
 *   CONFIG_X="double quoted"        CONFIG_X='single quoted'
 *   CONFIG_X=a"b"'c'                (adjacent segments concatenate, as in sh)
 *   CONFIG_X="v"   # trailing comment
 * Quoting follows POSIX sh: in double quotes '\' escapes only $ ` " \ and
 * newline; unquoted '\' escapes any character ('\<newline>' continues the
 * line); single quotes are literal. A quoted value may span lines.
 * There is no expansion: an unquoted or double-quoted '$' or '`' is an error
 * (a shell would have expanded it, so the value would be ambiguous), as is
 * anything after the value other than a comment. Keys are shell identifiers.
 * Errors are reported as "FILE:LINE: reason"; a file with any malformed line
 * is rejected whole (nothing from it is applied).
 *
 * Layers: load board defaults, then user overrides: the last assignment of a
 * key wins (config_get).
 * Bounds: file <= 1 MiB, value <= 64 KiB, <= 4096 assignments per config.
 */
#ifndef HEADS_CONFIG_H
#define HEADS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_MAX_VALUE (64 * 1024)
#define CONFIG_MAX_ENTRIES 4096

struct config_entry {
	char *key;
	char *value;
	char *file;     /* where it was set */
	unsigned line;  /* 1-based line of the assignment */
};

struct config {
	struct config_entry *entries; /* in file order; later entries win */
	size_t n;
};

void config_init(struct config *c);
void config_free(struct config *c);

/* Parse buf (len bytes, name for messages) and append its assignments.
 * On a syntax error returns -EINVAL and, if ret_error, a malloc'd
 * "name:line: reason"; c is left unchanged. */
int config_parse(struct config *c, const char *name, const char *buf, size_t len,
		 char **ret_error);

/* Read and parse a file. -ENOENT if missing (no message), -EFBIG if too
 * large, -EINVAL with ret_error on syntax errors. */
int config_load(struct config *c, const char *path, char **ret_error);

/* Effective value (last assignment) or NULL. */
const char *config_get(const struct config *c, const char *key);
/* value == "y" */
bool config_enabled(const struct config *c, const char *key);

/* Effective entries, one per key, sorted by key. Returns count; *ret is a
 * malloc'd array of pointers into c (do not free the entries). */
size_t config_effective(const struct config *c, const struct config_entry ***ret);

/* True for a valid key (shell identifier). */
bool config_key_valid(const char *key);

/* Quote value for writing: double quotes, escaping $ ` " \. Caller frees. */
char *config_quote(const char *value);

/* Set key=value in the file at path atomically (fs_write_atomic): the first
 * assignment of key is replaced by `export KEY="value"`, later ones removed,
 * every other line kept byte for byte; if absent it is appended. A missing
 * file is created. The existing file must parse (else -EINVAL, ret_error).
 * Values with control characters other than tab are -EINVAL. */
int config_set(const char *path, const char *key, const char *value, char **ret_error);

#endif
