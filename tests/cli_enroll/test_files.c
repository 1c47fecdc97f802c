/*
 * Unit tests for the CLI's output files (tools/cli_files.c): a command's
 * files change together or not at all, links are written through only
 * where that is safe, and nothing is left behind. rename() is wrapped
 * (-Wl,--wrap=rename) so that a chosen call fails, as a bind-mounted or
 * busy file would make it, after the files before it are in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "cli.h"

static char last_error[4096];
static int rename_calls;
static unsigned rename_fails; /* bit n set: the nth call (from 1) fails */

int tk_cli_error(const TK_CLI *cli, int code, const char *fmt, ...)
{
    va_list ap;

    (void)cli;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return code;
}

int __real_rename(const char *from, const char *to);
int __wrap_rename(const char *from, const char *to);

int __wrap_rename(const char *from, const char *to)
{
    if (++rename_calls < 32 && (rename_fails & (1u << rename_calls))) {
        errno = EBUSY;
        return -1;
    }
    return __real_rename(from, to);
}

static char dir[64];

static char *in_dir(const char *name)
{
    static char paths[8][PATH_MAX];
    static int next;
    char *p = paths[next++ % 8];

    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    return p;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static const char *content(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return "(none)";
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Files in dir matching pattern (find -name): temporary or backup names left behind. */
static int count(const char *pattern)
{
    char cmd[256];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "find '%s' -name '%s' | wc -l", dir, pattern);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static int leftovers(void)
{
    return count("*.tmp.*") + count("*.old.*");
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/tk-files.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    rename_calls = 0;
    rename_fails = 0;
    last_error[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_all_in_place(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };

    (void)state;
    put(in_dir("a.pem"), "old a");
    assert_true(tk_cli_write_public(&cli, in_dir("a.pem"), "new a", 5, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("b.pem"), "new b", 5, 0));
    /* Nothing changes before the commit. */
    assert_string_equal(content(in_dir("a.pem")), "old a");
    assert_string_equal(content(in_dir("b.pem")), "(none)");
    assert_true(tk_cli_files_commit(&cli));
    assert_string_equal(content(in_dir("a.pem")), "new a");
    assert_string_equal(content(in_dir("b.pem")), "new b");
    assert_int_equal(leftovers(), 0);
}

/* The third file cannot take its name: the two before it are put back as they were. */
static void test_failure_puts_back(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };

    (void)state;
    put(in_dir("key.pem"), "old key");
    put(in_dir("cert.pem"), "old cert");
    put(in_dir("client.properties"), "old props");
    assert_true(tk_cli_write_public(&cli, in_dir("key.pem"), "new key", 7, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("new.pem"), "new file", 8, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("cert.pem"), "new cert", 8, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("client.properties"), "new props", 9, 1));
    rename_fails = 1u << 3; /* key.pem, new.pem (renamed: force), then cert.pem fails */
    assert_false(tk_cli_files_commit(&cli));
    assert_non_null(strstr(last_error, "cert.pem"));
    assert_non_null(strstr(last_error, "the files written before it are as they were"));
    assert_string_equal(content(in_dir("key.pem")), "old key");
    assert_string_equal(content(in_dir("new.pem")), "(none)");
    assert_string_equal(content(in_dir("cert.pem")), "old cert");
    assert_string_equal(content(in_dir("client.properties")), "old props");
    assert_int_equal(leftovers(), 0);
}

/* A file that cannot be put back keeps its old content under the name the message gives. */
static void test_put_back_fails(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };
    char old_name[PATH_MAX];
    const char *q;
    size_t n;

    (void)state;
    put(in_dir("key.pem"), "old key");
    put(in_dir("cert.pem"), "old cert");
    assert_true(tk_cli_write_public(&cli, in_dir("key.pem"), "new key", 7, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("cert.pem"), "new cert", 8, 1));
    rename_fails = 1u << 2 | 1u << 3; /* cert.pem fails, then putting key.pem back fails */
    assert_false(tk_cli_files_commit(&cli));
    q = strstr(last_error, "its old content is in '");
    if (q == NULL || strstr(last_error, "key.pem' is new") == NULL)
        fail_msg("%s", last_error);
    q += strlen("its old content is in '");
    n = strcspn(q, "'");
    assert_true(n < sizeof(old_name));
    memcpy(old_name, q, n);
    old_name[n] = '\0';
    assert_string_equal(content(old_name), "old key");
    assert_string_equal(content(in_dir("key.pem")), "new key");
    assert_string_equal(content(in_dir("cert.pem")), "old cert");
    assert_int_equal(count("*.tmp.*"), 0);
    assert_int_equal(count("*.old.*"), 1);
}

/* Without force a file that appeared since the check is never overwritten. */
static void test_appeared_meanwhile(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };

    (void)state;
    assert_true(tk_cli_write_public(&cli, in_dir("first.pem"), "first", 5, 0));
    assert_true(tk_cli_write_public(&cli, in_dir("second.pem"), "second", 6, 0));
    put(in_dir("second.pem"), "someone else's");
    assert_false(tk_cli_files_commit(&cli));
    assert_non_null(strstr(last_error, "a file of that name appeared meanwhile"));
    assert_string_equal(content(in_dir("second.pem")), "someone else's");
    assert_string_equal(content(in_dir("first.pem")), "(none)");
    assert_int_equal(leftovers(), 0);
}

/* A file that is never committed leaves nothing (the command failed before). */
static void test_discard(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };

    (void)state;
    put(in_dir("kept.pem"), "as it was");
    assert_true(tk_cli_write_public(&cli, in_dir("kept.pem"), "never", 5, 1));
    tk_cli_files_discard(&cli);
    assert_string_equal(content(in_dir("kept.pem")), "as it was");
    assert_int_equal(leftovers(), 0);
}

/* A link to a regular file is written through: the link stays, the file it names changes. */
static void test_link_written_through(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };
    struct stat st;

    (void)state;
    put(in_dir("real.pem"), "old");
    assert_int_equal(symlink("real.pem", in_dir("link.pem")), 0);
    assert_true(tk_cli_write_public(&cli, in_dir("link.pem"), "new", 3, 1));
    assert_true(tk_cli_files_commit(&cli));
    assert_int_equal(lstat(in_dir("link.pem"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_string_equal(content(in_dir("real.pem")), "new");
    /* Two names of one file in one command: refused before anything is written. */
    assert_true(tk_cli_write_public(&cli, in_dir("real.pem"), "a", 1, 1));
    assert_false(tk_cli_write_public(&cli, in_dir("link.pem"), "b", 1, 1));
    assert_non_null(strstr(last_error, "are the same file"));
    tk_cli_files_discard(&cli);
    assert_int_equal(leftovers(), 0);
}

/* Links into /dev or /proc, by any number of hops, relative or not: refused. */
static void test_links_to_descriptors_refused(void **state)
{
    static const char *const names[] = { "fd-abs", "fd-rel", "fd-chain" };
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };
    char rel[PATH_MAX] = "";
    struct stat st;

    (void)state;
    /* ../../proc/self/fd/1 from dir, as many ../ as dir is deep. */
    for (const char *c = dir; *c != '\0'; c++)
        if (*c == '/')
            strcat(rel, "../");
    strcat(rel, "proc/self/fd/1");
    assert_int_equal(symlink("/proc/self/fd/1", in_dir("fd-abs")), 0);
    assert_int_equal(symlink(rel, in_dir("fd-rel")), 0);
    assert_int_equal(symlink("fd-rel", in_dir("fd-chain")), 0);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        last_error[0] = '\0';
        assert_false(tk_cli_write_public(&cli, in_dir(names[i]), "x", 1, 1));
        if (strstr(last_error, "is not a regular file") == NULL)
            fail_msg("%s: %s", names[i], last_error);
        assert_int_equal(lstat(in_dir(names[i]), &st), 0);
        assert_true(S_ISLNK(st.st_mode));
    }
    last_error[0] = '\0';
    assert_false(tk_cli_write_public(&cli, "/dev/fd/1", "x", 1, 1));
    assert_non_null(strstr(last_error, "is not a regular file"));
    assert_int_equal(leftovers(), 0);
}

/*
 * A link of another user's is not followed, even in that user's own
 * directory: it could send root's --force write onto any file.
 */
static void test_foreign_link_refused(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };

    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a link to another user */
    put(in_dir("target.pem"), "precious");
    assert_int_equal(symlink("target.pem", in_dir("planted.pem")), 0);
    assert_int_equal(lchown(in_dir("planted.pem"), 65534, 65534), 0);
    assert_false(tk_cli_write_public(&cli, in_dir("planted.pem"), "x", 1, 1));
    assert_non_null(strstr(last_error, "leads through a symbolic link owned by another user (uid 65534)"));
    /* In a directory of that user's own. */
    assert_int_equal(mkdir(in_dir("theirs"), 0755), 0);
    assert_int_equal(chown(in_dir("theirs"), 65534, 65534), 0);
    assert_int_equal(symlink("../target.pem", in_dir("theirs/client.properties")), 0);
    assert_int_equal(lchown(in_dir("theirs/client.properties"), 65534, 65534), 0);
    last_error[0] = '\0';
    assert_false(tk_cli_write_public(&cli, in_dir("theirs/client.properties"), "x", 1, 1));
    assert_non_null(strstr(last_error, "owned by another user (uid 65534)"));
    assert_string_equal(content(in_dir("target.pem")), "precious");
    assert_int_equal(leftovers(), 0);
}

/* A dangling link is replaced like a file; a loop and a directory at the end are refused. */
static void test_odd_links(void **state)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "test" };
    struct stat st;

    (void)state;
    assert_int_equal(symlink("nowhere.pem", in_dir("dangling.pem")), 0);
    assert_int_equal(symlink("no-dir/x.pem", in_dir("dangling-dir.pem")), 0);
    assert_true(tk_cli_write_public(&cli, in_dir("dangling.pem"), "d1", 2, 1));
    assert_true(tk_cli_write_public(&cli, in_dir("dangling-dir.pem"), "d2", 2, 1));
    assert_true(tk_cli_files_commit(&cli));
    assert_int_equal(lstat(in_dir("dangling.pem"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_string_equal(content(in_dir("dangling.pem")), "d1");
    assert_string_equal(content(in_dir("dangling-dir.pem")), "d2");
    assert_string_equal(content(in_dir("nowhere.pem")), "(none)");

    assert_int_equal(symlink("loop-b", in_dir("loop-a")), 0);
    assert_int_equal(symlink("loop-a", in_dir("loop-b")), 0);
    assert_false(tk_cli_write_public(&cli, in_dir("loop-a"), "x", 1, 1));
    if (strstr(last_error, "symbolic links") == NULL && strstr(last_error, "Too many levels") == NULL)
        fail_msg("loop: %s", last_error);
    assert_int_equal(lstat(in_dir("loop-a"), &st), 0);
    assert_true(S_ISLNK(st.st_mode));

    assert_int_equal(mkdir(in_dir("a-dir"), 0755), 0);
    assert_int_equal(symlink("a-dir", in_dir("to-dir")), 0);
    last_error[0] = '\0';
    assert_false(tk_cli_write_public(&cli, in_dir("to-dir"), "x", 1, 1));
    assert_non_null(strstr(last_error, "is not a regular file"));
    assert_int_equal(leftovers(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_all_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_puts_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appeared_meanwhile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_written_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_to_descriptors_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_link_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_back_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_odd_links, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
