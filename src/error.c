#define _GNU_SOURCE
#include "error.h"

#include <stdarg.h>

#include "banned.h"
#include "strbuf.h"

int nua_error_set(struct nua_error **err, int status, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	nua_error_free(*err);
	*err = xmalloc(sizeof(**err));
	(*err)->status = status;
	(*err)->msg = strbuf_detach(&sb, NULL);
	return -1;
}

int nua_error_prefix(struct nua_error **err, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!err || !*err)
		return -1;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addf(&sb, ": %s", (*err)->msg);
	free((*err)->msg);
	(*err)->msg = strbuf_detach(&sb, NULL);
	return -1;
}

void nua_error_free(struct nua_error *err)
{
	if (!err)
		return;
	free(err->msg);
	free(err);
}

int nua_error_report(const struct nua_error *err)
{
	if (!err) {
		fprintf(stderr, "error: unknown failure\n");
		return NUA_EFAIL;
	}
	fprintf(stderr, "error: %s\n", err->msg);
	return err->status ? err->status : NUA_EFAIL;
}

void diag_add(struct diag_list *dl, const char *file, int line, int col, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	struct diag *d;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	ALLOC_GROW(dl->items, dl->n + 1, dl->alloc);
	d = &dl->items[dl->n++];
	d->file = xstrdup(file ? file : "");
	d->line = line;
	d->col = col;
	d->msg = strbuf_detach(&sb, NULL);
}

void diag_list_release(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->items[i].file);
		free(dl->items[i].msg);
	}
	free(dl->items);
	dl->items = NULL;
	dl->n = dl->alloc = 0;
}

void diag_list_sort(struct diag_list *dl)
{
	/* Insertion sort: stable, and lists are short. */
	for (size_t i = 1; i < dl->n; i++) {
		struct diag d = dl->items[i];
		size_t j = i;

		while (j > 0 && (dl->items[j - 1].line > d.line ||
				 (dl->items[j - 1].line == d.line && dl->items[j - 1].col > d.col))) {
			dl->items[j] = dl->items[j - 1];
			j--;
		}
		dl->items[j] = d;
	}
}

void diag_list_print(const struct diag_list *dl, FILE *out)
{
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->items[i];

		if (d->line > 0 && d->col > 0)
			fprintf(out, "%s:%d:%d: %s\n", d->file, d->line, d->col, d->msg);
		else if (d->line > 0)
			fprintf(out, "%s:%d: %s\n", d->file, d->line, d->msg);
		else
			fprintf(out, "%s: %s\n", d->file, d->msg);
	}
}
