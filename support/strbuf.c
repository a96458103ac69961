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

/* A target may be replaced only when it is absent or a file (a symlink is
 * replaced itself); anything else would make the rename fail half-way. */
static bool target_ok(const char *path, char *err, size_t err_size)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT)
            return true;
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        return false;
    }
    if (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode))
        return true;
    snprintf(err, err_size, "cannot write %s: it exists and is not a regular file", path);
    return false;
}

static bool write_all(int fd, const unsigned char *p, size_t left)
{
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return false;
        p += w;
        left -= (size_t)w;
    }
    return true;
}

bool xf_write_files_atomic(int n, const char *const *paths, const void *const *data,
                           const size_t *sizes, char *err, size_t err_size)
{
    char **tmp = xf_xcalloc((size_t)n, sizeof *tmp);
    bool ok = true;
    int made = 0;
    for (int i = 0; ok && i < n; i++)
        ok = target_ok(paths[i], err, err_size);
    for (; ok && made < n; made++) {
        size_t plen = strlen(paths[made]);
        tmp[made] = xf_xmalloc(plen + 16);
        snprintf(tmp[made], plen + 16, "%s.tmpXXXXXX", paths[made]);
        int fd = mkstemp(tmp[made]);
        if (fd < 0) {
            snprintf(err, err_size, "cannot create %s: %s", paths[made], strerror(errno));
            free(tmp[made]);
            tmp[made] = NULL;
            ok = false;
            break;
        }
        /* mkstemp creates 0600; give the file the usual 0644 */
        if (!write_all(fd, data[made], sizes[made]) || fchmod(fd, 0644) != 0) {
            snprintf(err, err_size, "cannot write %s: %s", paths[made], strerror(errno));
            close(fd);
            ok = false;
        } else if (close(fd) != 0) {
            snprintf(err, err_size, "cannot write %s: %s", paths[made], strerror(errno));
            ok = false;
        }
    }
    /* every temporary is complete: only now are the targets replaced */
    for (int i = 0; ok && i < n; i++) {
        if (rename(tmp[i], paths[i]) != 0) {
            snprintf(err, err_size, "cannot write %s: %s", paths[i], strerror(errno));
            ok = false;
        } else {
            free(tmp[i]);
            tmp[i] = NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        if (tmp[i])
            unlink(tmp[i]);
        free(tmp[i]);
    }
    free(tmp);
    return ok;
}

bool xf_write_file_atomic(const char *path, const void *data, size_t size, char *err,
                          size_t err_size)
{
    return xf_write_files_atomic(1, &path, &data, &size, err, err_size);
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
