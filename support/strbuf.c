/* strbuf.c - growable strings and whole-file I/O. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

void xf_sb_vprintf(XfStrBuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + (size_t)n + 1)
            cap *= 2;
        sb->data = xf_xrealloc(sb->data, cap);
        sb->cap = cap;
    }
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
}

void xf_sb_printf(XfStrBuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xf_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

void xf_sb_putn(XfStrBuf *sb, const char *s, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1)
            cap *= 2;
        sb->data = xf_xrealloc(sb->data, cap);
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void xf_sb_puts(XfStrBuf *sb, const char *s) { xf_sb_putn(sb, s, strlen(s)); }

void xf_sb_free(XfStrBuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

bool xf_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                          size_t err_size)
{
    size_t plen = strlen(path);
    char *tmp = xf_xmalloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
        free(tmp);
        return false;
    }
    const unsigned char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return false;
        }
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp creates 0600; give the file the usual 0644 */
    if (fchmod(fd, 0644) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return false;
    }
    free(tmp);
    return true;
}

char *xf_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    XfStrBuf sb = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        xf_sb_putn(&sb, buf, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        xf_sb_free(&sb);
        return NULL;
    }
    if (!sb.data)
        xf_sb_putn(&sb, "", 0);
    *size = sb.len;
    return sb.data;
}
