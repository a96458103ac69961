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

/* At most this many bytes of a source line are echoed, and of a message
 * printed: a 10 MB line or name gives a few hundred bytes of stderr. */
#define XF_DIAG_LINE_MAX 160
#define XF_DIAG_MSG_MAX 400

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
    /* a long line is cut to a window around the column, marked with "..." */
    const char *from = p, *to = eol;
    if (to - from > XF_DIAG_LINE_MAX) {
        size_t col = loc.col ? loc.col - 1 : 0;
        if ((size_t)(eol - p) < col)
            col = (size_t)(eol - p);
        from = p + (col > XF_DIAG_LINE_MAX / 2 ? col - XF_DIAG_LINE_MAX / 2 : 0);
        to = eol - from > XF_DIAG_LINE_MAX ? from + XF_DIAG_LINE_MAX : eol;
    }
    const char *pre = from > p ? "..." : "", *post = to < eol ? "..." : "";
    fprintf(d->out, "    %s%.*s%s\n    %s", pre, (int)(to - from), from, post,
            *pre ? "   " : "");
    /* keep tabs so the caret lines up under the same bytes */
    for (const char *c = from; c < to && c < p + (loc.col ? loc.col - 1 : 0); c++)
        fputc(*c == '\t' ? '\t' : ' ', d->out);
    fputc('^', d->out);
    const char *tok = p + (loc.col ? loc.col - 1 : 0);
    for (uint32_t i = 1; i < loc.len && tok + i < to; i++)
        fputc('~', d->out);
    fputc('\n', d->out);
}

static void report(XfDiag *d, XfLoc loc, const char *kind, const char *fmt, va_list ap)
{
    if (loc.line)
        fprintf(d->out, "%s:%u:%u: %s: ", d->path, loc.line, loc.col, kind);
    else
        fprintf(d->out, "%s: %s: ", d->path, kind);
    XfStrBuf msg = {0};
    xf_sb_vprintf(&msg, fmt, ap);
    if (msg.len > XF_DIAG_MSG_MAX)      /* a huge name inside: keep both ends */
        fprintf(d->out, "%.*s...%s\n", XF_DIAG_MSG_MAX / 2, msg.data,
                msg.data + msg.len - XF_DIAG_MSG_MAX / 2);
    else
        fprintf(d->out, "%s\n", msg.data ? msg.data : "");
    xf_sb_free(&msg);
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
