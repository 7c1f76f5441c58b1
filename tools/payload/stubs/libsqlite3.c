/* libsqlite3.so.0 stand-in for boards that cannot carry SQLite (1.4 MiB):
 * gpg links SQLite only for its TOFU trust model (trust-model tofu/tofu+pgp),
 * which Heads never selects; every entry point here fails cleanly (an open
 * reports SQLITE_ERROR and gives no handle). The payload builder checks
 * that it defines every SQLite symbol the payload's programs import. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define SQLITE_ERROR 1
#define SQLITE_MISUSE 21

int sqlite3_open(const char *name, void **db)
{
	(void)name;
	if (db)
		*db = NULL;
	return SQLITE_ERROR;
}
const char *sqlite3_errmsg(void *db) { (void)db; return "SQLite is not in this payload"; }
const char *sqlite3_errstr(int rc) { (void)rc; return "SQLite is not in this payload"; }
int sqlite3_close(void *db) { (void)db; return 0; }
void sqlite3_free(void *p) { (void)p; }
void *sqlite3_malloc(int n) { (void)n; return NULL; }
char *sqlite3_vmprintf(const char *fmt, va_list ap) { (void)fmt; (void)ap; return NULL; }
void *sqlite3_db_handle(void *stmt) { (void)stmt; return NULL; }
const char *sqlite3_column_name(void *stmt, int i) { (void)stmt; (void)i; return NULL; }
const unsigned char *sqlite3_column_text(void *stmt, int i) { (void)stmt; (void)i; return NULL; }
int sqlite3_column_count(void *stmt) { (void)stmt; return 0; }
int sqlite3_column_type(void *stmt, int i) { (void)stmt; (void)i; return 5; /* NULL */ }
int sqlite3_bind_parameter_count(void *stmt) { (void)stmt; return 0; }
int sqlite3_bind_blob(void *s, int i, const void *v, int n, void (*d)(void *))
{ (void)s; (void)i; (void)v; (void)n; (void)d; return SQLITE_MISUSE; }
int sqlite3_bind_int(void *s, int i, int v) { (void)s; (void)i; (void)v; return SQLITE_MISUSE; }
int sqlite3_bind_int64(void *s, int i, int64_t v) { (void)s; (void)i; (void)v; return SQLITE_MISUSE; }
int sqlite3_bind_text(void *s, int i, const char *v, int n, void (*d)(void *))
{ (void)s; (void)i; (void)v; (void)n; (void)d; return SQLITE_MISUSE; }
int sqlite3_busy_handler(void *db, int (*f)(void *, int), void *a)
{ (void)db; (void)f; (void)a; return SQLITE_MISUSE; }
int sqlite3_busy_timeout(void *db, int ms) { (void)db; (void)ms; return SQLITE_MISUSE; }
int sqlite3_exec(void *db, const char *sql, int (*cb)(void *, int, char **, char **), void *a,
		 char **err)
{
	(void)db; (void)sql; (void)cb; (void)a;
	if (err)
		*err = NULL;
	return SQLITE_MISUSE;
}
int sqlite3_finalize(void *stmt) { (void)stmt; return 0; }
int sqlite3_prepare_v2(void *db, const char *sql, int n, void **stmt, const char **tail)
{
	(void)db; (void)sql; (void)n;
	if (stmt)
		*stmt = NULL;
	if (tail)
		*tail = NULL;
	return SQLITE_MISUSE;
}
int sqlite3_reset(void *stmt) { (void)stmt; return 0; }
int sqlite3_step(void *stmt) { (void)stmt; return SQLITE_MISUSE; }
