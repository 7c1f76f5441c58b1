/* ui_script_parse.h - the scripted-UI answer file (grammar in ui.h).
 * Pure parsing, no I/O, so it can be fuzzed alone. */
#ifndef HEADS_UI_SCRIPT_PARSE_H
#define HEADS_UI_SCRIPT_PARSE_H

#include <stddef.h>

#define UI_SCRIPT_MAX_BYTES (1024 * 1024)
#define UI_SCRIPT_MAX_LINE 4096
#define UI_SCRIPT_MAX_LINES 65536

struct ui_script {
	char **answers; /* NUL-terminated copies, comments removed */
	unsigned *lines; /* 1-based source line of each answer */
	size_t n;
	size_t next;    /* index of the next answer to consume */
	char *name;     /* file name for messages */
};

/* Parse buf (len bytes; NULs are -EINVAL). On error returns -EINVAL/-EFBIG
 * and, if ret_error, a malloc'd "name:line: reason"; s is left empty. */
int ui_script_parse(struct ui_script *s, const char *name, const char *buf, size_t len,
		    char **ret_error);
void ui_script_free(struct ui_script *s);

#endif
