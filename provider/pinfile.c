/* Reading a PIN file (see pinfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pinfile.h"

/*
 * Up to cap bytes into buf; *over set when there is more. Returns 0, or
 * an errno: read() fails on a directory (EISDIR), and a file that cannot
 * be read must not pass for an empty one.
 */
static int read_capped(int fd, char *buf, size_t cap, size_t *total, int *over)
{
    ssize_t got = 0;
    char extra;

    *total = 0;
    *over = 0;
    while (*total < cap && (got = read(fd, buf + *total, cap - *total)) > 0)
        *total += (size_t)got;
    if (got < 0)
        return errno;
    if (*total == cap) {
        *over = read(fd, &extra, 1) == 1;
        OPENSSL_cleanse(&extra, sizeof(extra)); /* the byte after cap may be a PIN's */
    }
    return 0;
}

TK_PINFILE_STATUS tk_pinfile_read(const char *path, char *buf, size_t cap, size_t *len,
                                  unsigned *mode, int *err)
{
    struct stat st;
    size_t total = 0;
    int over = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

    *mode = 0;
    *err = 0;
    if (fd < 0) {
        *err = errno;
        return TK_PINFILE_UNREADABLE;
    }
    if (fstat(fd, &st) == 0) {
        *mode = (unsigned)(st.st_mode & 07777);
        /* open() succeeds on a directory: say what it is, not "empty". */
        *err = S_ISDIR(st.st_mode) ? EISDIR : 0;
    }
    if (*err == 0)
        *err = read_capped(fd, buf, cap, &total, &over);
    close(fd);
    if (*err != 0) {
        OPENSSL_cleanse(buf, total);
        return TK_PINFILE_UNREADABLE;
    }
    if (over)
        return TK_PINFILE_TOO_LONG;
    while (total > 0 && (buf[total - 1] == '\n' || buf[total - 1] == '\r'))
        total--;
    *len = total;
    return total > 0 ? TK_PINFILE_OK : TK_PINFILE_EMPTY;
}

int tk_pinfile_too_open(unsigned mode)
{
    return (mode & (S_IRGRP | S_IROTH)) != 0;
}
