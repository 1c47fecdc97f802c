/* The SoftHSM2 test fixture: see fixture.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

/* What mktoken.sh prints, and where each value goes. */
static char **field(TK_FIXTURE *f, const char *key)
{
    if (strcmp(key, "TOKENKEY_TEST_MODULE") == 0)
        return &f->module;
    if (strcmp(key, "TOKENKEY_TEST_TOKEN") == 0)
        return &f->token;
    if (strcmp(key, "TOKENKEY_TEST_SERIAL") == 0)
        return &f->serial;
    if (strcmp(key, "TOKENKEY_TEST_PIN_FILE") == 0)
        return &f->pin_file;
    if (strcmp(key, "TOKENKEY_TEST_SO_PIN_FILE") == 0)
        return &f->so_pin_file;
    if (strcmp(key, "SOFTHSM2_CONF") == 0)
        return &f->softhsm_conf;
    return NULL;
}

/* Environment names we set, so teardown can unset them. */
static const char *const exported[] = {
    "SOFTHSM2_CONF", "TOKENKEY_TEST_DIR", "TOKENKEY_TEST_MODULE", "TOKENKEY_TEST_TOKEN",
    "TOKENKEY_TEST_SERIAL", "TOKENKEY_TEST_PIN_FILE", "TOKENKEY_TEST_SO_PIN_FILE", NULL
};

/*
 * One line of the script's output: KEY='value'. The script quotes every
 * value in single quotes and none contains one; anything else (the
 * "export ..." line) is not an assignment and is ignored.
 */
static int parse_line(TK_FIXTURE *f, char *line)
{
    char *eq = strchr(line, '='), *value, *end;
    char **slot;

    if (eq == NULL || strncmp(line, "export ", 7) == 0)
        return 0;
    *eq = '\0';
    value = eq + 1;
    if (*value != '\'' || (end = strrchr(value + 1, '\'')) == NULL || end[1] != '\0'
        || memchr(value + 1, '\'', (size_t)(end - value - 1)) != NULL) {
        fprintf(stderr, "fixture: unexpected mktoken.sh line: %s=%s\n", line, value);
        return -1;
    }
    value++;
    *end = '\0';
    if (setenv(line, value, 1) != 0) {
        fprintf(stderr, "fixture: setenv %s: %s\n", line, strerror(errno));
        return -1;
    }
    if ((slot = field(f, line)) != NULL) {
        free(*slot);
        if ((*slot = strdup(value)) == NULL)
            return -1;
    }
    return 0;
}

/* Run "mktoken.sh DIR LABEL" and return its stdout (free() it), NULL on failure. */
static char *run_mktoken(const char *script, const char *dir, const char *label)
{
    int fds[2], status;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    ssize_t got;
    pid_t pid;

    if (out == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        free(out);
        return NULL;
    }
    fflush(NULL); /* the child must not write our buffered output again */
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(out);
        return NULL;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execl(script, script, dir, label, (char *)NULL);
        fprintf(stderr, "fixture: cannot run %s: %s\n", script, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while ((got = read(fds[0], out + len, cap - len - 1)) > 0 || (got < 0 && errno == EINTR)) {
        if (got < 0)
            continue;
        len += (size_t)got;
        if (cap - len < 2) {
            char *bigger = realloc(out, cap * 2);

            if (bigger == NULL)
                break;
            out = bigger;
            cap *= 2;
        }
    }
    close(fds[0]);
    out[len] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fixture: %s %s %s failed (status 0x%x): see its message above\n",
                script, dir, label, (unsigned)status);
        free(out);
        return NULL;
    }
    return out;
}

int tk_fixture_setup(TK_FIXTURE *f, const char *label)
{
    const char *script = getenv("TK_MKTOKEN"), *tmp = getenv("TMPDIR");
    char templ[4096], *out, *line, *save = NULL;
    int rc = 0;

    memset(f, 0, sizeof(*f));
    if (label == NULL)
        label = "tokenkey-test";
    if (script == NULL || *script == '\0' || getenv("TK_INIT_TOKEN") == NULL) {
        fprintf(stderr, "fixture: TK_MKTOKEN and TK_INIT_TOKEN must be set "
                        "(run the tests with 'meson test')\n");
        return -1;
    }
    snprintf(templ, sizeof(templ), "%s/tokenkey-test.XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(templ) == NULL) {
        fprintf(stderr, "fixture: mkdtemp %s: %s\n", templ, strerror(errno));
        return -1;
    }
    if ((f->dir = strdup(templ)) == NULL)
        return -1;
    out = run_mktoken(script, f->dir, label);
    if (out == NULL) {
        tk_fixture_teardown(f);
        return -1;
    }
    for (line = strtok_r(out, "\n", &save); line != NULL && rc == 0;
         line = strtok_r(NULL, "\n", &save))
        rc = parse_line(f, line);
    free(out);
    if (rc == 0 && (f->module == NULL || f->token == NULL || f->serial == NULL
                    || f->pin_file == NULL || f->so_pin_file == NULL || f->softhsm_conf == NULL)) {
        fprintf(stderr, "fixture: mktoken.sh did not print every variable\n");
        rc = -1;
    }
    if (rc != 0) {
        tk_fixture_teardown(f);
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

void tk_fixture_teardown(TK_FIXTURE *f)
{
    const char *keep = getenv("TK_FIXTURE_KEEP");

    if (f->dir != NULL) {
        if (keep != NULL && strcmp(keep, "1") == 0)
            fprintf(stderr, "fixture: keeping %s\n", f->dir);
        else if (nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "fixture: cannot remove %s: %s\n", f->dir, strerror(errno));
    }
    for (int i = 0; exported[i] != NULL; i++)
        unsetenv(exported[i]);
    free(f->dir);
    free(f->module);
    free(f->token);
    free(f->serial);
    free(f->pin_file);
    free(f->so_pin_file);
    free(f->softhsm_conf);
    memset(f, 0, sizeof(*f));
}

const char *tk_fixture_dir(const TK_FIXTURE *f)
{
    return f->dir;
}

const char *tk_fixture_module(const TK_FIXTURE *f)
{
    return f->module;
}

const char *tk_fixture_token(const TK_FIXTURE *f)
{
    return f->token;
}

const char *tk_fixture_serial(const TK_FIXTURE *f)
{
    return f->serial;
}

const char *tk_fixture_pin_file(const TK_FIXTURE *f)
{
    return f->pin_file;
}

const char *tk_fixture_so_pin_file(const TK_FIXTURE *f)
{
    return f->so_pin_file;
}

CK_RV tk_fixture_pin_from_file(void *arg, char *buf, size_t cap, size_t *len)
{
    char tmp[1024];
    size_t n;
    FILE *fp = fopen(arg, "re");

    if (fp == NULL)
        return TK_CKR_PIN_UNAVAILABLE;
    n = fread(tmp, 1, sizeof(tmp), fp);
    fclose(fp);
    while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
        n--;
    if (n == 0 || n > cap) {
        memset(tmp, 0, sizeof(tmp));
        return TK_CKR_PIN_UNAVAILABLE;
    }
    memcpy(buf, tmp, n);
    memset(tmp, 0, sizeof(tmp));
    *len = n;
    return CKR_OK;
}

TK_P11_PIN_GETTER tk_fixture_user_pin(const TK_FIXTURE *f)
{
    TK_P11_PIN_GETTER g = { tk_fixture_pin_from_file, f->pin_file };

    return g;
}

TK_P11_PIN_GETTER tk_fixture_so_pin(const TK_FIXTURE *f)
{
    TK_P11_PIN_GETTER g = { tk_fixture_pin_from_file, f->so_pin_file };

    return g;
}

char *tk_fixture_read_pin(const char *path)
{
    char buf[1024];
    size_t len = 0;
    char *pin;

    if (tk_fixture_pin_from_file((void *)path, buf, sizeof(buf) - 1, &len) != CKR_OK)
        return NULL;
    buf[len] = '\0';
    pin = strdup(buf);
    memset(buf, 0, sizeof(buf));
    return pin;
}
