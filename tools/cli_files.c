/*
 * The public files the CLI writes (certificates, key references, client
 * configs), all or nothing: each is written whole to a temporary file
 * beside it (tk_cli_write_public), and only when every one of a command's
 * files is written do they take their names (tk_cli_files_commit). A full
 * disk or a failure half way through a renewal leaves the old set, never
 * a new key.pem beside an old client.properties.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>

#include "cli.h"

char *tk_cli_path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = OPENSSL_malloc(dl + nl + 2);

    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    if (dl == 0 || dir[dl - 1] != '/')
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

/*
 * The file a path names, links and ./.. resolved: realpath of the file, or
 * of its directory when the file is not there yet (NULL when neither
 * resolves). free() it.
 */
static char *canonical(const char *path)
{
    char *copy, *dir, *real;
    const char *base;
    size_t need;

    if ((real = realpath(path, NULL)) != NULL)
        return real;
    if ((copy = strdup(path)) == NULL)
        return NULL;
    base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    dir = realpath(dirname(copy), NULL);
    free(copy);
    if (dir == NULL || *base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        free(dir);
        return NULL;
    }
    need = strlen(dir) + strlen(base) + 2;
    if ((real = malloc(need)) != NULL)
        snprintf(real, need, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base);
    free(dir);
    return real;
}

int tk_cli_same_file(const char *a, const char *b)
{
    char *ca, *cb;
    int same;

    if (strcmp(a, b) == 0)
        return 1;
    ca = canonical(a);
    cb = canonical(b);
    same = ca != NULL && cb != NULL && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

int tk_cli_out_dir(TK_CLI *cli, const char *dir, int *made)
{
    *made = mkdir(dir, 0755) == 0;
    if (!*made && errno != EEXIST) {
        tk_cli_error(cli, 0, "cannot create --out-dir '%s': %s", dir, strerror(errno));
        return 0;
    }
    /*
     * Public files, for a client that may run as another user: 0755
     * whatever the umask, like the files (0644). An existing directory
     * keeps the mode its owner gave it.
     */
    if (*made && chmod(dir, 0755) != 0) {
        tk_cli_error(cli, 0, "cannot make --out-dir '%s' readable by the client: %s", dir,
                     strerror(errno));
        return 0;
    }
    return 1;
}

void tk_cli_out_dir_undo(const char *dir, int made)
{
    /* rmdir removes only an empty directory: a file this run did not make stays. */
    if (made)
        (void)rmdir(dir);
}

int tk_cli_check_new_file(TK_CLI *cli, const char *path, int force)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(errno));
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        tk_cli_error(cli, 0, "'%s' is a directory: give a file name", path);
        return 0;
    }
    /*
     * Files are written beside and renamed over, which would replace a
     * device or a pipe. A link to a regular file is written through (the
     * file it names is replaced, the link stays); a link to anything else
     * (/dev/stdout, /proc/self/fd/1) is refused whatever it leads to now.
     */
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof(target) - 1);

        target[n > 0 ? n : 0] = '\0';
        if (stat(path, &st) != 0)
            st.st_mode = S_IFREG; /* a dangling link: replaced like a file */
        else if (strncmp(target, "/dev/", 5) == 0 || strncmp(target, "/proc/", 6) == 0)
            st.st_mode = S_IFCHR;
    }
    if (!S_ISREG(st.st_mode)) {
        tk_cli_error(cli, 0, "'%s' is not a regular file: give a file name", path);
        return 0;
    }
    if (!force) {
        tk_cli_error(cli, 0, "'%s' already exists: pass --force to overwrite it", path);
        return 0;
    }
    return 1;
}

static int write_all(int fd, const void *data, size_t len)
{
    const unsigned char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* The name the file is written under: a link to a regular file stands for that file. */
static char *write_target(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return realpath(path, NULL);
    return strdup(path);
}

static void cannot_write(TK_CLI *cli, const char *path, int err)
{
    char *copy = strdup(path);

    /* The file is replaced through a new one beside it: its directory must be writable too. */
    if (err == EACCES && copy != NULL && access(path, W_OK) == 0)
        tk_cli_error(cli, 0, "cannot write '%s': the directory '%s' is not writable (files are "
                             "replaced through a new file beside them): write elsewhere, or "
                             "as a user who may write there", path, dirname(copy));
    else
        tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(err));
    free(copy);
}

int tk_cli_write_public(TK_CLI *cli, const char *path, const void *data, size_t len, int force)
{
    TK_CLI_STAGED *s;
    char *target, *tmp;
    size_t cap;
    int fd, ok;

    if (!tk_cli_check_new_file(cli, path, force))
        return 0;
    if (cli->n_staged == (int)(sizeof(cli->staged) / sizeof(cli->staged[0])))
        return tk_cli_error(cli, 0, "too many files for one command");
    if ((target = write_target(path)) == NULL)
        return tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(errno));
    for (int i = 0; i < cli->n_staged; i++)
        if (tk_cli_same_file(cli->staged[i].target, target)) {
            tk_cli_error(cli, 0, "'%s' and '%s' are the same file: give them different names",
                         cli->staged[i].path, path);
            free(target);
            return 0;
        }
    cap = strlen(target) + 16;
    if ((tmp = malloc(cap)) == NULL) {
        free(target);
        return tk_cli_error(cli, 0, "out of memory");
    }
    snprintf(tmp, cap, "%s.tmp.XXXXXX", target);
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        cannot_write(cli, path, errno);
        free(tmp);
        free(target);
        return 0;
    }
    /* Public data: readable by the services that use it, whatever the umask. */
    ok = fchmod(fd, 0644) == 0 && write_all(fd, data, len);
    ok = close(fd) == 0 && ok;
    if (!ok) {
        tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        free(target);
        return 0;
    }
    s = &cli->staged[cli->n_staged++];
    s->path = path;
    s->target = target;
    s->tmp = tmp;
    s->replace = force;
    return 1;
}

int tk_cli_write_bio(TK_CLI *cli, const char *path, BIO *mem, int force)
{
    char *data;
    long len = BIO_get_mem_data(mem, &data);

    return len >= 0 && tk_cli_write_public(cli, path, data, (size_t)len, force);
}

/* tmp takes target's name; without replace never over a file that appeared meanwhile. */
static int put_in_place(const TK_CLI_STAGED *s, int *created)
{
    struct stat st;

    *created = lstat(s->target, &st) != 0;
    if (s->replace)
        return rename(s->tmp, s->target) == 0;
    if (link(s->tmp, s->target) == 0) {
        (void)unlink(s->tmp);
        return 1;
    }
    /* A file system without hard links (vfat): the check just made has to do. */
    if ((errno == EPERM || errno == EOPNOTSUPP) && *created)
        return rename(s->tmp, s->target) == 0;
    return 0;
}

int tk_cli_files_commit(TK_CLI *cli)
{
    int done, created[sizeof(cli->staged) / sizeof(cli->staged[0])];

    for (done = 0; done < cli->n_staged; done++) {
        if (put_in_place(&cli->staged[done], &created[done])) {
            cli->staged[done].tmp[0] = '\0'; /* in place: nothing to discard */
        } else {
            int err = errno;

            tk_cli_error(cli, 0, "cannot write '%s': %s", cli->staged[done].path,
                         err == EEXIST ? "a file of that name appeared meanwhile" : strerror(err));
            /* Those made new go again; one replaced stays replaced (its old content is gone). */
            for (int i = 0; i < done; i++)
                if (created[i])
                    (void)unlink(cli->staged[i].target);
            tk_cli_files_discard(cli);
            return 0;
        }
    }
    tk_cli_files_discard(cli);
    return 1;
}

void tk_cli_files_discard(TK_CLI *cli)
{
    for (int i = 0; i < cli->n_staged; i++) {
        if (cli->staged[i].tmp[0] != '\0')
            (void)unlink(cli->staged[i].tmp);
        free(cli->staged[i].tmp);
        free(cli->staged[i].target);
    }
    cli->n_staged = 0;
}
