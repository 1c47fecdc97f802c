/* Reading a PIN file (see pinfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pinfile.h"

/*
 * read() on a descriptor opened O_NONBLOCK, waiting until the deadline
 * for a pipe's or device's data. A FIFO's read() says end-of-file while
 * no writer has opened it yet, which may be a moment after we did: that
 * counts only once a writer was seen (data, EAGAIN, or a hang-up, which
 * Linux reports only after a writer came and went). Returns what read()
 * returns, or -1 with errno ETIMEDOUT.
 */
static ssize_t read_waiting(int fd, int fifo, int *writer_seen, void *buf, size_t n,
                            const struct timespec *deadline)
{
    for (;;) {
        ssize_t got = read(fd, buf, n);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        struct timespec now;
        long ms;

        if (got > 0 || (got == 0 && (!fifo || *writer_seen)))
            return got;
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (got < 0 && errno == EAGAIN)
            *writer_seen = 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (poll(&p, 1, (int)ms) < 0 && errno != EINTR)
            return -1;
        if (p.revents & (POLLIN | POLLHUP))
            *writer_seen = 1;
    }
}

/*
 * Up to cap bytes into buf; *over set when there is more. Returns 0, or
 * an errno: read() fails on a directory (EISDIR), and a file that cannot
 * be read must not pass for an empty one.
 */
static int read_capped(int fd, int fifo, char *buf, size_t cap, size_t *total, int *over)
{
    ssize_t got = 0;
    char extra;
    struct timespec deadline;
    int writer_seen = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += TK_PINFILE_WAIT_SECONDS;
    *total = 0;
    *over = 0;
    while (*total < cap && (got = read_waiting(fd, fifo, &writer_seen, buf + *total, cap - *total, &deadline)) > 0)
        *total += (size_t)got;
    if (got < 0)
        return errno;
    if (*total == cap) {
        *over = read_waiting(fd, fifo, &writer_seen, &extra, 1, &deadline) == 1;
        OPENSSL_cleanse(&extra, sizeof(extra)); /* the byte after cap may be a PIN's */
    }
    return 0;
}

TK_PINFILE_STATUS tk_pinfile_read(const char *path, char *buf, size_t cap, size_t *len,
                                  unsigned *mode, int *err)
{
    struct stat st;
    size_t total = 0;
    /* O_NONBLOCK: opening a FIFO no program writes to would block forever. */
    int over = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    *mode = 0;
    *err = 0;
    if (fd < 0) {
        *err = errno;
        return TK_PINFILE_UNREADABLE;
    }
    if (fstat(fd, &st) != 0) {
        *err = errno;
    } else {
        *mode = (unsigned)(st.st_mode & 07777);
        /* open() succeeds on a directory: say what it is, not "empty". */
        *err = S_ISDIR(st.st_mode) ? EISDIR : 0;
    }
    if (*err == 0)
        *err = read_capped(fd, S_ISFIFO(st.st_mode), buf, cap, &total, &over);
    close(fd);
    if (*err != 0) {
        OPENSSL_cleanse(buf, total);
        return *err == ETIMEDOUT ? TK_PINFILE_NO_DATA : TK_PINFILE_UNREADABLE;
    }
    if (over)
        return TK_PINFILE_TOO_LONG;
    *len = total = tk_pin_trimmed_len(buf, total);
    return total > 0 ? TK_PINFILE_OK : TK_PINFILE_EMPTY;
}

size_t tk_pin_trimmed_len(const char *pin, size_t len)
{
    while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r'))
        len--;
    return len;
}

int tk_pinfile_too_open(unsigned mode)
{
    return (mode & (S_IRGRP | S_IROTH)) != 0;
}
