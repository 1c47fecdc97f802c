/*
 * main() for a harness built without libFuzzer: runs every file named on
 * the command line (directories: every regular file in them, sorted) once
 * through LLVMFuzzerTestOneInput. The seed corpus is checked this way in
 * every build, with any compiler, under ASan and under valgrind; a failed
 * property aborts, as it does under libFuzzer.
 *
 * usage: fuzz-replay-TARGET FILE|DIR...
 * Exit status 0 when every input ran, 1 when an argument cannot be read
 * or no input was found (an empty corpus proves nothing).
 */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 0;
    }
    do {
        if (len == cap) {
            unsigned char *bigger = realloc(buf, cap = cap * 2 + 4096);

            if (bigger == NULL)
                abort();
            buf = bigger;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    unsigned long inputs = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        struct dirent **names;
        int n;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (!run_file(argv[i]))
                return 1;
            inputs++;
            continue;
        }
        if ((n = scandir(argv[i], &names, NULL, by_name)) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char path[4096];

            snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                if (!run_file(path))
                    return 1;
                inputs++;
            }
            free(names[k]);
        }
        free(names);
    }
    if (inputs == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replay: %lu inputs, all properties held\n", inputs);
    return 0;
}
