/* OpenSSL's error queue as text, for a test's assertion or failure message. */
#ifndef TK_TEST_ERROR_TEXT_H
#define TK_TEST_ERROR_TEXT_H

/* Every queued error, as ERR_print_errors prints it, one per line (free() it); the queue is emptied. */
char *tk_test_error_text(void);

#endif
