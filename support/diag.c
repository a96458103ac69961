/* diag.c - "file:line:col: error: message" with the source line and a caret. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

void xf_diag_init(XfDiag *d, const char *path, const char *src, size_t src_len, FILE *out)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->src = src;
    d->src_len = src_len;
    d->out = out ? out : stderr;
    d->max_errors = 20;
}

static void show_line(XfDiag *d, XfLoc loc)
{
    if (!d->src || loc.line == 0)
        return;
    const char *p = d->src, *end = d->src + d->src_len;
    for (uint32_t l = 1; l < loc.line && p < end; p++)
        if (*p == '\n')
            l++;
    const char *eol = p;
    while (eol < end && *eol != '\n')
        eol++;
    fprintf(d->out, "    %.*s\n    ", (int)(eol - p), p);
    /* keep tabs so the caret lines up under the same bytes */
    for (uint32_t c = 1; c < loc.col && p + c - 1 < eol; c++)
        fputc(p[c - 1] == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    for (uint32_t i = 1; i < loc.len; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

static void report(XfDiag *d, XfLoc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.line)
        fprintf(d->out, "%s:%u:%u: %s: ", d->path, loc.line, loc.col, kind);
    else
        fprintf(d->out, "%s: %s: ", d->path, kind);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    show_line(d, loc);
}

void xf_diag_error(XfDiag *d, XfLoc loc, const char *fmt, ...)
{
    d->n_errors++;
    if (d->n_errors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "error", fmt, ap);
    va_end(ap);
    if (d->n_errors == d->max_errors)
        fprintf(d->out, "%s: too many errors, stopping\n", d->path);
}

void xf_diag_note(XfDiag *d, XfLoc loc, const char *fmt, ...)
{
    if (d->n_errors > d->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    report(d, loc, "note", fmt, ap);
    va_end(ap);
}

void xf_internal_error(const char *file, int line, const char *what)
{
    fprintf(stderr, "xfc: internal error at %s:%d: %s\n", file, line, what);
    abort();
}
