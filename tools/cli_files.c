/*
 * The public files the CLI writes (certificates, key references, client
 * configs), all or nothing: each is written whole to a temporary file
 * beside it (tk_cli_write_public), and only when every one of a command's
 * files is written do they take their names (tk_cli_files_commit), each
 * file it replaces kept under a second name until all are in place. A full
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

/*
 * path with its directory resolved (links, ./..), its last name as it is;
 * free() it. NULL with errno set (ENOENT: the directory is not there).
 */
static char *parent_resolved(const char *path)
{
    char *copy = strdup(path), *dir = copy != NULL ? realpath(dirname(copy), NULL) : NULL, *out;
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    int err = errno;
    size_t need;

    free(copy);
    if (dir == NULL) {
        errno = copy == NULL ? ENOMEM : err;
        return NULL;
    }
    need = strlen(dir) + strlen(base) + 2;
    if ((out = malloc(need)) != NULL)
        snprintf(out, need, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base);
    free(dir);
    errno = out == NULL ? ENOMEM : err;
    return out;
}

/*
 * The file a path names, links and ./.. resolved: realpath of the file, or
 * of its directory when the file is not there yet (NULL when neither
 * resolves, or the name ends in '/', '.' or '..'). free() it.
 */
static char *canonical(const char *path)
{
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    char *real = realpath(path, NULL);

    if (real != NULL || *base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return real;
    return parent_resolved(path);
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

static int in_dev_or_proc(const char *resolved)
{
    return strncmp(resolved, "/dev/", 5) == 0 || strncmp(resolved, "/proc/", 6) == 0;
}

/* The next hop of the link at cur (whose directory is resolved), resolved as cur is. */
static char *link_next(const char *cur, const char *link_to)
{
    char *copy, *joined, *next;
    size_t need;

    if (link_to[0] == '/')
        return parent_resolved(link_to);
    if ((copy = strdup(cur)) == NULL)
        return NULL;
    need = strlen(cur) + strlen(link_to) + 2;
    if ((joined = malloc(need)) == NULL) {
        free(copy);
        errno = ENOMEM;
        return NULL;
    }
    snprintf(joined, need, "%s/%s", dirname(copy), link_to);
    next = parent_resolved(joined);
    free(joined);
    free(copy);
    return next;
}

/*
 * The file a write to path replaces, in *target (free() it): path itself,
 * or, for a symbolic link, the regular file at the end of its chain: the
 * link stays, as a client's configuration may name it. Only links owned by
 * the writer or root are followed (one planted by another user, even the
 * owner of the directory, could send root's --force write onto any file),
 * hop by hop, never into /dev or /proc (/dev/stdout, /proc/self/fd/1: a
 * rename there would replace what the descriptor points at). A dangling
 * link is replaced like a file. Prints why not and returns 0.
 */
static int resolve_target(TK_CLI *cli, const char *path, char **target)
{
    char *cur, link_to[PATH_MAX];
    struct stat st;
    int hops = 0, exists;
    ssize_t n;

    *target = NULL;
    if ((cur = parent_resolved(path)) == NULL) {
        if (errno != ENOENT)
            return tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(errno));
        return (*target = strdup(path)) != NULL || tk_cli_error(cli, 0, "out of memory");
    }
    for (;;) {
        char *next;

        if (in_dev_or_proc(cur))
            break;
        if (lstat(cur, &st) != 0) {
            if (errno == ENOENT)
                break; /* not there: a new file, or the end of a dangling link */
            tk_cli_error(cli, 0, "cannot write '%s': '%s': %s", path, cur, strerror(errno));
            free(cur);
            return 0;
        }
        if (!S_ISLNK(st.st_mode))
            break;
        if (++hops > 40) {
            tk_cli_error(cli, 0, "cannot write '%s': more than 40 symbolic links on the way", path);
            free(cur);
            return 0;
        }
        if (st.st_uid != geteuid() && st.st_uid != 0) {
            tk_cli_error(cli, 0, "'%s' leads through a symbolic link owned by another user (uid "
                                 "%u): tokenkey writes through links of its own user or root only; "
                                 "remove it, or give the file it names", path, (unsigned)st.st_uid);
            free(cur);
            return 0;
        }
        n = readlink(cur, link_to, sizeof(link_to));
        if (n <= 0 || (size_t)n >= sizeof(link_to)) {
            tk_cli_error(cli, 0, "cannot write '%s': cannot read the link '%s'", path, cur);
            free(cur);
            return 0;
        }
        link_to[n] = '\0';
        if ((next = link_next(cur, link_to)) == NULL) {
            if (errno != ENOENT) {
                tk_cli_error(cli, 0, "cannot write '%s': '%s': %s", path, link_to, strerror(errno));
                free(cur);
                return 0;
            }
            break; /* a link into a directory that is not there: dangling */
        }
        free(cur);
        cur = next;
    }
    exists = lstat(cur, &st) == 0 && !S_ISLNK(st.st_mode);
    if (in_dev_or_proc(cur) || (exists && !S_ISREG(st.st_mode))) {
        free(cur);
        return tk_cli_error(cli, 0, "'%s' is not a regular file: give a file name", path);
    }
    if (hops == 0 || !exists) { /* not a link, or a dangling one: path itself */
        free(cur);
        cur = strdup(path);
    }
    *target = cur;
    return cur != NULL || tk_cli_error(cli, 0, "out of memory");
}

/*
 * Whether path may be written (tk_cli_check_new_file), with the file the
 * write would replace in *target when target is not NULL (free() it).
 */
static int check_new(TK_CLI *cli, const char *path, int force, char **target)
{
    struct stat st;
    char *resolved;

    if (target != NULL)
        *target = NULL;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return tk_cli_error(cli, 0, "cannot write '%s': %s", path, strerror(errno));
        /* A new file; where it would go is still checked (never into /dev or /proc). */
        return target == NULL || resolve_target(cli, path, target);
    }
    if (S_ISDIR(st.st_mode))
        return tk_cli_error(cli, 0, "'%s' is a directory: give a file name", path);
    /* Files are written beside and renamed over, which would replace a device or a pipe. */
    if (!resolve_target(cli, path, &resolved))
        return 0;
    if (!force) {
        free(resolved);
        return tk_cli_error(cli, 0, "'%s' already exists: pass --force to overwrite it", path);
    }
    if (target != NULL)
        *target = resolved;
    else
        free(resolved);
    return 1;
}

int tk_cli_check_new_file(TK_CLI *cli, const char *path, int force)
{
    return check_new(cli, path, force, NULL);
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

/* path: as the command names it; target: the file replaced (the end of a link). */
static void cannot_write(TK_CLI *cli, const char *path, const char *target, int err)
{
    char *copy = strdup(target);

    /* The file is replaced through a new one beside it: its directory must be writable too. */
    if (err == EACCES && copy != NULL && access(target, W_OK) == 0)
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

    if (cli->n_staged == (int)(sizeof(cli->staged) / sizeof(cli->staged[0])))
        return tk_cli_error(cli, 0, "too many files for one command");
    if (!check_new(cli, path, force, &target))
        return 0;
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
        cannot_write(cli, path, target, errno);
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
    s->path = strdup(path);
    s->target = target;
    s->tmp = tmp;
    s->old = NULL;
    s->replace = force;
    if (s->path == NULL) {
        tk_cli_files_discard(cli);
        return tk_cli_error(cli, 0, "out of memory");
    }
    return 1;
}

int tk_cli_write_bio(TK_CLI *cli, const char *path, BIO *mem, int force)
{
    char *data;
    long len = BIO_get_mem_data(mem, &data);

    return len >= 0 && tk_cli_write_public(cli, path, data, (size_t)len, force);
}

/*
 * tmp takes target's name; without replace never over a file that appeared
 * meanwhile. A file replaced is first kept under a second name (s->old, a
 * hard link) so that a later file's failure can put it back.
 */
static int put_in_place(TK_CLI_STAGED *s, int *created)
{
    struct stat st;

    *created = lstat(s->target, &st) != 0;
    if (s->replace) {
        if (!*created && (s->old = strdup(s->tmp)) != NULL) {
            /* target.tmp.XXXXXX -> target.old.XXXXXX: as unique, in the same directory. */
            memcpy(s->old + strlen(s->old) - 10, "old", 3);
            if (link(s->target, s->old) != 0) {
                free(s->old); /* no hard links here: this one cannot be put back */
                s->old = NULL;
            }
        }
        return rename(s->tmp, s->target) == 0;
    }
    if (link(s->tmp, s->target) == 0) {
        (void)unlink(s->tmp);
        return 1;
    }
    /* A file system without hard links (vfat, some FUSE): the check just made has to do. */
    if ((errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) && *created)
        return rename(s->tmp, s->target) == 0;
    return 0;
}

int tk_cli_files_commit(TK_CLI *cli)
{
    int done, created[sizeof(cli->staged) / sizeof(cli->staged[0])];

    for (done = 0; done < cli->n_staged; done++) {
        TK_CLI_STAGED *s = &cli->staged[done];
        char lost[4 * PATH_MAX] = "";
        int err;

        if (put_in_place(s, &created[done])) {
            s->tmp[0] = '\0'; /* in place: nothing to discard */
            continue;
        }
        err = errno;
        /*
         * Back as they were: those made new go, those replaced get their old
         * content back. One that cannot is named, with where its old content
         * is (kept, never discarded).
         */
        for (int i = done - 1; i >= 0; i--) {
            TK_CLI_STAGED *back = &cli->staged[i];
            size_t used = strlen(lost);

            if (back->old != NULL) {
                if (rename(back->old, back->target) == 0) {
                    back->old[0] = '\0'; /* renamed back: nothing to remove */
                } else {
                    snprintf(lost + used, sizeof(lost) - used, "%s'%s' is new (its old content is "
                             "in '%s')", used > 0 ? "; " : "", back->path, back->old);
                    free(back->old);
                    back->old = NULL; /* kept: the discard must not remove it */
                }
            } else if (!created[i]) {
                snprintf(lost + used, sizeof(lost) - used, "%s'%s' is new (its old content is "
                         "gone: no hard links on its file system)", used > 0 ? "; " : "", back->path);
            } else if (unlink(back->target) != 0 && errno != ENOENT) {
                snprintf(lost + used, sizeof(lost) - used, "%s'%s' is new and could not be removed",
                         used > 0 ? "; " : "", back->path);
            }
        }
        tk_cli_error(cli, 0, "cannot write '%s': %s; %s", s->path,
                     err == EEXIST ? "a file of that name appeared meanwhile" : strerror(err),
                     lost[0] != '\0' ? lost : "the files written before it are as they were");
        tk_cli_files_discard(cli);
        return 0;
    }
    tk_cli_files_discard(cli);
    return 1;
}

void tk_cli_files_discard(TK_CLI *cli)
{
    for (int i = 0; i < cli->n_staged; i++) {
        TK_CLI_STAGED *s = &cli->staged[i];

        if (s->tmp[0] != '\0')
            (void)unlink(s->tmp);
        if (s->old != NULL && s->old[0] != '\0')
            (void)unlink(s->old);
        free(s->tmp);
        free(s->old);
        free(s->target);
        free(s->path);
    }
    cli->n_staged = 0;
}
