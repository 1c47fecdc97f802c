/*
 * The debug log of the PKCS#11 layer (TOKENKEY_DEBUG, TOKENKEY_DEBUG_FILE):
 * every C_* call with its CKR_ name, and never a PIN. Its own executable:
 * the log reads the environment once per process (pthread_once), so the
 * variables are set here before anything in the layer runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11_test.h"

static TK_P11_TEST env;
static char log_path[4096];

static int setup(void)
{
    /* The token first (its tk-init-token must not log here), then the log, then the layer. */
    if (tk_fixture_setup(&env.fx, "tokenkey-debug") != 0)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s/debug.log", tk_fixture_dir(&env.fx));
    if (setenv("TOKENKEY_DEBUG", "1", 1) != 0 || setenv("TOKENKEY_DEBUG_FILE", log_path, 1) != 0)
        return -1;
    return tk_p11_test_open(&env, NULL);
}

static void teardown(void)
{
    tk_p11_test_teardown(&env); /* removes the log with the directory */
}

/* The line of text that contains both needles, or fail. */
static void assert_line_with(const char *text, const char *a, const char *b)
{
    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        char *copy = strndup(line, len);
        int found = strstr(copy, a) != NULL && strstr(copy, b) != NULL;

        free(copy);
        if (found)
            return;
        line += len + (line[len] == '\n');
    }
    fail_msg("no log line with both '%s' and '%s' in:\n%s", a, b, text);
}

static void test_log_names_calls_not_pins(void **state)
{
    /* Letters for the marker: digits like 31337 turn up in the log's microsecond time stamps. */
    char wrong[] = "wrong-PIN-qzxvj-debug";
    TK_P11_PIN_GETTER bad = { tk_test_pin_literal, wrong };
    char *pin = tk_fixture_read_pin(tk_fixture_pin_file(&env.fx)), *log;
    char pin_len[32];

    assert_non_null(pin);
    assert_int_equal(tk_p11_login(env.t, &bad), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);

    log = tk_test_read_file(log_path);
    assert_non_null(log);
    /* The failed call, its result, where it came from; the PIN only by length. */
    assert_line_with(log, "C_Login(", "CKR_PIN_INCORRECT");
    assert_line_with(log, "p11_login.c:", "C_Login(");
    assert_line_with(log, "CKR_PIN_INCORRECT", "pin length 21");
    snprintf(pin_len, sizeof(pin_len), "pin length %zu", strlen(pin));
    assert_line_with(log, pin_len, "= CKR_OK");
    /* Other calls are there too, each a line of its own with a time stamp. */
    assert_line_with(log, "C_OpenSession(", "= CKR_OK");
    assert_line_with(log, "tokenkey[", "C_GetTokenInfo(");
    /* And no PIN: not the wrong one, not the right one. */
    if (strstr(log, wrong) != NULL || strstr(log, "qzxvj") != NULL)
        fail_msg("the wrong PIN is in the debug log:\n%s", log);
    if (strstr(log, pin) != NULL)
        fail_msg("the user PIN is in the debug log");
    free(log);
    free(pin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_names_calls_not_pins),
    };

    return tk_test_run("p11-debug", tests, TK_TEST_COUNT(tests), setup, teardown);
}
