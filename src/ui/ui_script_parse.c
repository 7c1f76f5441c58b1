/* ui_script_parse.c - parse a scripted-UI answer file (see ui.h). */
#include "ui/ui_script_parse.h"
#include "util.h"

#include <errno.h>
#include <string.h>

void ui_script_free(struct ui_script *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->answers[i]);
	free(s->answers);
	free(s->lines);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

static int fail(const char *name, unsigned line, const char *why, char **ret_error, int r)
{
	if (ret_error)
		*ret_error = xasprintf("%s:%u: %s", name, line, why);
	return r;
}

int ui_script_parse(struct ui_script *s, const char *name, const char *buf, size_t len,
		    char **ret_error)
{
	struct ui_script t = {0};
	size_t pos = 0;
	unsigned line = 0;
	int r = 0;

	if (!name)
		name = "(script)";
	if (len > UI_SCRIPT_MAX_BYTES)
		return fail(name, 0, "script larger than 1 MiB", ret_error, -EFBIG);
	if (memchr(buf, '\0', len))
		return fail(name, 0, "script contains a NUL byte", ret_error, -EINVAL);

	while (pos < len) {
		const char *start = buf + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - start) : len - pos;

		pos += l + (nl ? 1 : 0);
		line++;
		if (l > 0 && start[l - 1] == '\r')
			l--;
		if (l > UI_SCRIPT_MAX_LINE) {
			r = fail(name, line, "line longer than 4096 bytes", ret_error, -EINVAL);
			goto out;
		}
		if (l > 0 && start[0] == '#')
			continue;
		if (t.n >= UI_SCRIPT_MAX_LINES) {
			r = fail(name, line, "more than 65536 answers", ret_error, -EINVAL);
			goto out;
		}
		t.answers = xrealloc(t.answers, (t.n + 1) * sizeof(char *));
		t.lines = xrealloc(t.lines, (t.n + 1) * sizeof(unsigned));
		t.answers[t.n] = xstrndup(start, l);
		t.lines[t.n] = line;
		t.n++;
	}
	t.name = xstrdup(name);
	ui_script_free(s);
	*s = t;
	return 0;
out:
	ui_script_free(&t);
	return r;
}
