/* Reading a PIN file (see pinfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pinfile.h"

/* A PIN file being read, opened O_NONBLOCK. */
typedef struct {
    int fd;
    int regular;               /* a regular file: no waiting, read to its end */
    int fifo;                  /* a FIFO: its end of file counts once a writer was seen */
    int writer_seen;
    int timed_out;
    struct timespec deadline;
} PIN_READER;

/*
 * read(), waiting until the deadline for a pipe's or device's data. A
 * FIFO's read() says end-of-file while no writer has opened it yet, which
 * may be a moment after we did: that counts only once a writer was seen
 * (data, EAGAIN, or a hang-up, which Linux reports only after a writer
 * came and went). Returns what read() returns, or -1 (timed_out set when
 * the deadline passed).
 */
static ssize_t read_waiting(PIN_READER *r, void *buf, size_t n)
{
    for (;;) {
        ssize_t got = read(r->fd, buf, n);
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        struct timespec now;
        long ms;
        int ready;

        if (got > 0 || (got == 0 && (!r->fifo || r->writer_seen)))
            return got;
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (got < 0 && errno == EAGAIN)
            r->writer_seen = 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (r->deadline.tv_sec - now.tv_sec) * 1000
             + (r->deadline.tv_nsec - now.tv_nsec) / 1000000;
        if (ms <= 0) {
            r->timed_out = 1;
            return -1;
        }
        if ((ready = poll(&p, 1, (int)ms)) < 0 && errno != EINTR)
            return -1;
        if (ready > 0 && (p.revents & (POLLERR | POLLNVAL))) {
            errno = EIO; /* not a descriptor poll can wait on: fail, never spin */
            return -1;
        }
        if (ready > 0)
            r->writer_seen = 1;
    }
}

/*
 * Up to cap bytes into buf; *over set when there is more. A pipe or device
 * may stay open after the PIN: its first line ends it. Returns 0, or an
 * errno: read() fails on a directory (EISDIR), and a file that cannot be
 * read must not pass for an empty one.
 */
static int read_capped(PIN_READER *r, char *buf, size_t cap, size_t *total, int *over)
{
    ssize_t got = 0;
    char extra;

    *total = 0;
    *over = 0;
    while (*total < cap && (got = read_waiting(r, buf + *total, cap - *total)) > 0) {
        char *eol = r->regular ? NULL : memchr(buf + *total, '\n', (size_t)got);

        *total += (size_t)got;
        if (eol != NULL) {
            /* The PIN's line: what came after it is not the PIN's, and goes. */
            size_t line = (size_t)(eol - buf) + 1;

            OPENSSL_cleanse(buf + line, *total - line);
            *total = line;
            return 0;
        }
    }
    if (got < 0)
        return r->timed_out ? 0 : errno;
    if (*total == cap) {
        *over = read_waiting(r, &extra, 1) == 1;
        OPENSSL_cleanse(&extra, sizeof(extra)); /* the byte after cap may be a PIN's */
    }
    return 0;
}

TK_PINFILE_STATUS tk_pinfile_read(const char *path, char *buf, size_t cap, size_t *len,
                                  unsigned *mode, int *err)
{
    struct stat st;
    size_t total = 0;
    int over = 0;
    /* O_NONBLOCK: opening a FIFO no program writes to would block forever. */
    PIN_READER r = { .fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) };

    *mode = 0;
    *err = 0;
    if (r.fd < 0) {
        *err = errno;
        return TK_PINFILE_UNREADABLE;
    }
    if (fstat(r.fd, &st) != 0) {
        *err = errno;
    } else {
        *mode = (unsigned)(st.st_mode & 07777);
        /* open() succeeds on a directory: say what it is, not "empty". */
        *err = S_ISDIR(st.st_mode) ? EISDIR : 0;
        r.regular = S_ISREG(st.st_mode);
        r.fifo = S_ISFIFO(st.st_mode);
    }
    clock_gettime(CLOCK_MONOTONIC, &r.deadline);
    r.deadline.tv_sec += TK_PINFILE_WAIT_SECONDS;
    if (*err == 0)
        *err = read_capped(&r, buf, cap, &total, &over);
    close(r.fd);
    if (*err != 0 || r.timed_out) {
        OPENSSL_cleanse(buf, total);
        return r.timed_out ? TK_PINFILE_NO_DATA : TK_PINFILE_UNREADABLE;
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
