/* Reading a PIN file (see pinfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pinfile.h"

TK_PINFILE_STATUS tk_pinfile_read(const char *path, char *buf, size_t cap, size_t *len,
                                  unsigned *mode, int *err)
{
    struct stat st;
    ssize_t got;
    size_t total = 0;
    char extra;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *mode = 0;
    if (fd < 0) {
        *err = errno;
        return TK_PINFILE_UNREADABLE;
    }
    if (fstat(fd, &st) == 0)
        *mode = (unsigned)(st.st_mode & 07777);
    while (total < cap && (got = read(fd, buf + total, cap - total)) > 0)
        total += (size_t)got;
    if (total == cap && read(fd, &extra, 1) == 1) {
        close(fd);
        return TK_PINFILE_TOO_LONG;
    }
    close(fd);
    while (total > 0 && (buf[total - 1] == '\n' || buf[total - 1] == '\r'))
        total--;
    *len = total;
    return total > 0 ? TK_PINFILE_OK : TK_PINFILE_EMPTY;
}

int tk_pinfile_too_open(unsigned mode)
{
    return (mode & (S_IRGRP | S_IROTH)) != 0;
}
