/*
 * The PIN prompt: a line read from the terminal with echo off, never from
 * a pipe (no PIN in scripts by accident). Echo comes back on whatever ends
 * the read, a signal included, and a line that does not fit is never sent
 * cut short: the token would count the try.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include <openssl/crypto.h>

#include "cli.h"

/* The terminal's settings while echo is off, for the signal handler to put back. */
static struct termios saved_settings;
static volatile sig_atomic_t echo_off_fd = -1;

static const int fatal_signals[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP };
#define N_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

/* Ctrl-C at the prompt: echo on again, then die of the signal as the process would have. */
static void restore_echo_and_reraise(int sig)
{
    if (echo_off_fd >= 0)
        tcsetattr(echo_off_fd, TCSAFLUSH, &saved_settings);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_fatal_signals(struct sigaction old[N_FATAL])
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_echo_and_reraise;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &sa, &old[i]);
}

static void release_fatal_signals(const struct sigaction old[N_FATAL])
{
    for (size_t i = 0; i < N_FATAL; i++)
        sigaction(fatal_signals[i], &old[i], NULL);
}

/* The rest of a line too long for the buffer, read and dropped (echo still off). */
static void drop_rest_of_line(FILE *tty)
{
    int c;

    while ((c = fgetc(tty)) != EOF && c != '\n')
        ;
}

CK_RV tk_cli_pin_from_prompt(TK_CLI *cli, char *buf, size_t cap, size_t *len)
{
    struct termios quiet;
    struct sigaction old[N_FATAL];
    FILE *tty = fopen("/dev/tty", "r+e");
    size_t n = 0;
    int got, too_long = 0;

    *len = 0;
    if (tty == NULL) {
        tk_cli_error(cli, 0, "the token needs a PIN and there is no terminal to ask: "
                             "use --pin-file FILE or TOKENKEY_PIN_FILE");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    /* Unbuffered: stdio would keep a copy of the PIN in a buffer freed unwiped. */
    setvbuf(tty, NULL, _IONBF, 0);
    /* Echo off before the prompt shows: a PIN typed at once must not be echoed or flushed. */
    if (tcgetattr(fileno(tty), &saved_settings) != 0) {
        fclose(tty);
        tk_cli_error(cli, 0, "cannot turn off echo on the terminal, so no PIN is asked for: "
                             "use --pin-file FILE or TOKENKEY_PIN_FILE");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    quiet = saved_settings;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    catch_fatal_signals(old);
    echo_off_fd = fileno(tty);
    if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) != 0) {
        echo_off_fd = -1;
        release_fatal_signals(old);
        fclose(tty);
        tk_cli_error(cli, 0, "cannot turn off echo on the terminal, so no PIN is asked for: "
                             "use --pin-file FILE or TOKENKEY_PIN_FILE");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    fprintf(tty, "PIN for the token: ");
    fflush(tty);
    got = fgets(buf, (int)cap, tty) != NULL;
    if (got) {
        n = strlen(buf);
        /* The buffer filled before the end of the line (not the end of input). */
        too_long = (n == 0 || buf[n - 1] != '\n') && !feof(tty);
        if (too_long)
            drop_rest_of_line(tty);
    }
    tcsetattr(fileno(tty), TCSAFLUSH, &saved_settings);
    echo_off_fd = -1;
    release_fatal_signals(old);
    fputc('\n', tty);
    fclose(tty);
    if (too_long) {
        OPENSSL_cleanse(buf, cap);
        tk_cli_error(cli, 0, "the PIN typed is longer than %zu characters, so it was not sent "
                             "(the token would have counted a wrong try); type it again, or use "
                             "--pin-file FILE", cap - 2);
        return TK_CKR_PIN_UNAVAILABLE;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0) {
        tk_cli_error(cli, 0, "nothing was typed at the PIN prompt; type the token's user PIN, or "
                             "use --pin-file FILE");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    *len = n;
    return CKR_OK;
}
