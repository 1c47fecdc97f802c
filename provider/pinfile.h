/*
 * Reading a PIN file: the one reader the provider's PIN sources and the
 * CLI's --pin-file share. It only reads; each caller words its own
 * messages (OpenSSL errors in the provider, one stderr line in the CLI).
 */
#ifndef TK_PINFILE_H
#define TK_PINFILE_H

#include <stddef.h>

typedef enum {
    TK_PINFILE_OK,
    TK_PINFILE_UNREADABLE,  /* open or read failed, or a directory: *err holds errno */
    TK_PINFILE_EMPTY,       /* nothing but a newline, or nothing */
    TK_PINFILE_TOO_LONG,    /* more than cap bytes: not a PIN, never cut one */
    TK_PINFILE_NO_DATA      /* a pipe or device that gave no PIN in TK_PINFILE_WAIT_SECONDS */
} TK_PINFILE_STATUS;

/*
 * How long a PIN "file" that is a pipe (a FIFO, bash's <(...)) or a
 * device may take to deliver the PIN (a line, or all it sends before it
 * closes): it is read without blocking, so a FIFO no program writes to,
 * or a writer that never finishes, is an error after this long, never a
 * hang in a TLS connect.
 */
#define TK_PINFILE_WAIT_SECONDS 10

/*
 * The PIN in path, without a trailing newline (an editor's, not the
 * PIN's), in buf (at most cap bytes, no NUL added). *mode gets the file's
 * permission bits. The caller wipes buf.
 */
TK_PINFILE_STATUS tk_pinfile_read(const char *path, char *buf, size_t cap, size_t *len,
                                  unsigned *mode, int *err);

/*
 * len without the line breaks at the end of the PIN (a file's last line,
 * or a variable filled from one, as Kubernetes does from a secret's file):
 * a token's PIN never ends in one.
 */
size_t tk_pin_trimmed_len(const char *pin, size_t len);

/* Whether group or others can read a file with these permission bits. */
int tk_pinfile_too_open(unsigned mode);

#endif
