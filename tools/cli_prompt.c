/*
 * The PIN prompt: a line read from the terminal with echo off, never from
 * a pipe (no PIN in scripts by accident). Echo comes back on whatever ends
 * the read, a signal included, and while the process is stopped (Ctrl-Z);
 * a line that does not fit is never sent cut short: the token would count
 * the try.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>

#include <openssl/crypto.h>

#include "cli.h"

/* The terminal's settings, and echo off, for the signal handlers to put back and again. */
static struct termios saved_settings, quiet_settings;
static volatile sig_atomic_t echo_off_fd = -1;

/* Signals that end the process, then those that stop it (Ctrl-Z, or a read from the background). */
static const int prompt_signals[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU };
#define N_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/*
 * A signal at the prompt: echo on again, then what the signal does - end
 * the process, or stop it; continued, echo goes off again and the read
 * goes on. Only async-signal-safe calls.
 */
static void restore_echo_and_reraise(int sig)
{
    struct sigaction dfl, ours;
    sigset_t unblock;

    if (echo_off_fd >= 0)
        tcsetattr(echo_off_fd, TCSAFLUSH, &saved_settings);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, &ours);
    sigemptyset(&unblock);
    sigaddset(&unblock, sig);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    raise(sig);
    /* Still here: it was a stop, and the process goes on. */
    sigaction(sig, &ours, NULL);
    if (echo_off_fd >= 0)
        tcsetattr(echo_off_fd, TCSAFLUSH, &quiet_settings);
}

/* Our handler for each signal, except those the caller ignores (nohup, trap ''): they stay so. */
static void catch_signals(struct sigaction old[N_SIGNALS])
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_echo_and_reraise;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_SIGNALS; i++) {
        sigaction(prompt_signals[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN)
            sigaction(prompt_signals[i], &sa, NULL);
    }
}

static void release_signals(const struct sigaction old[N_SIGNALS])
{
    for (size_t i = 0; i < N_SIGNALS; i++)
        sigaction(prompt_signals[i], &old[i], NULL);
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
    struct sigaction old[N_SIGNALS];
    FILE *tty = fopen("/dev/tty", "r+e");
    const char *end = NULL;
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
    quiet_settings = saved_settings;
    quiet_settings.c_lflag &= ~(tcflag_t)ECHO;
    catch_signals(old);
    echo_off_fd = fileno(tty);
    if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet_settings) != 0) {
        echo_off_fd = -1;
        release_signals(old);
        fclose(tty);
        tk_cli_error(cli, 0, "cannot turn off echo on the terminal, so no PIN is asked for: "
                             "use --pin-file FILE or TOKENKEY_PIN_FILE");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    fprintf(tty, "PIN for the token: ");
    fflush(tty);
    /* Zeroed first: a NUL typed into the line must not hide where fgets stopped. */
    memset(buf, 0, cap);
    got = fgets(buf, (int)cap, tty) != NULL;
    if (got) {
        end = memchr(buf, '\n', cap - 1);
        n = strlen(buf);
        /* fgets stops at a newline, the end of input, or a full buffer: no newline, no end. */
        too_long = end == NULL && !feof(tty);
        if (too_long)
            drop_rest_of_line(tty);
    }
    tcsetattr(fileno(tty), TCSAFLUSH, &saved_settings);
    echo_off_fd = -1;
    release_signals(old);
    fputc('\n', tty);
    fclose(tty);
    if (too_long) {
        OPENSSL_cleanse(buf, cap);
        tk_cli_error(cli, 0, "the PIN typed is longer than %zu characters, so it was not sent "
                             "(the token would have counted a wrong try); type it again, or use "
                             "--pin-file FILE", cap - 2);
        return TK_CKR_PIN_UNAVAILABLE;
    }
    /* A NUL typed into the line (Ctrl-@): not a PIN a token can take as typed. */
    if (end != NULL && (size_t)(end - buf) > n) {
        OPENSSL_cleanse(buf, cap);
        tk_cli_error(cli, 0, "the PIN typed holds a NUL character (Ctrl-@), so it was not sent; "
                             "type it again, or use --pin-file FILE");
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
