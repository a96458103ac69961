/* writer.c - the text writer: indentation and line counting in one place. */
#include <stdarg.h>
#include <string.h>

#include "cg.h"

static void put_indent(CWriter *w)
{
    for (int i = 0; i < w->indent; i++)
        xf_sb_puts(&w->buf, "    ");
}

static void vline(CWriter *w, const char *fmt, va_list ap)
{
    put_indent(w);
    xf_sb_vprintf(&w->buf, fmt, ap);
    xf_sb_puts(&w->buf, "\n");
    w->line++;
}

void cw_line(CWriter *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vline(w, fmt, ap);
    va_end(ap);
}

void cw_open(CWriter *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_indent(w);
    xf_sb_vprintf(&w->buf, fmt, ap);
    xf_sb_puts(&w->buf, " {\n");
    w->line++;
    va_end(ap);
    w->indent++;
}

void cw_close(CWriter *w, const char *tail)
{
    w->indent--;
    put_indent(w);
    xf_sb_printf(&w->buf, "}%s\n", tail ? tail : "");
    w->line++;
}

void cw_raw(CWriter *w, const char *text)
{
    xf_sb_puts(&w->buf, text);
    for (const char *p = text; *p; p++)
        if (*p == '\n')
            w->line++;
}

void cw_blank(CWriter *w)
{
    xf_sb_puts(&w->buf, "\n");
    w->line++;
}

void cw_free(CWriter *w) { xf_sb_free(&w->buf); }
