/*
 * The client.properties that kafka-config writes, read back as kcat -F
 * reads it (kcat 1.7, tried): one key=value per line, blanks before the key
 * and around the value ignored, '#' lines comments, the last line for a key
 * the one that counts (each rd_kafka_conf_set overrides the one before). A
 * blank between key and '=' makes another key, which kcat refuses ("No
 * such configuration property"): no line for this one. doctor reads
 * ssl.key.location and
 * ssl.certificate.location from it, kafka-config the bootstrap.servers to
 * keep when it writes the file again.
 */
#include <limits.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cli.h"

/*
 * A line that does not fit is skipped whole: never a value cut short, nor its
 * tail read as a line. A chunk that fills the buffer without a newline is a
 * longer line only if something other than the line end follows it: the
 * file's last line, or a line followed by just "\n", may fill it exactly.
 */
static int read_line(BIO *b, char *line, int cap)
{
    int n;

    while ((n = BIO_gets(b, line, cap)) > 0) {
        char rest[256];
        int m, longer = 0;

        if (line[n - 1] == '\n' || n < cap - 1)
            return 1;
        while ((m = BIO_gets(b, rest, (int)sizeof(rest))) > 0) {
            longer |= rest[strspn(rest, "\r\n")] != '\0';
            if (rest[m - 1] == '\n')
                break;
        }
        if (!longer)
            return 1;
    }
    return 0;
}

char *tk_cli_client_property(const char *path, const char *key)
{
    BIO *b = BIO_new_file(path, "r");
    char line[PATH_MAX + 256], *value = NULL;

    while (b != NULL && read_line(b, line, (int)sizeof(line))) {
        char *p = line, *eq, *end;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || (eq = strchr(p, '=')) == NULL)
            continue;
        if ((size_t)(eq - p) != strlen(key) || strncmp(p, key, (size_t)(eq - p)) != 0)
            continue;
        for (p = eq + 1; *p == ' ' || *p == '\t'; p++)
            continue;
        end = p + strcspn(p, "\r\n");
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        OPENSSL_free(value);
        value = OPENSSL_strndup(p, (size_t)(end - p));
    }
    BIO_free(b);
    ERR_clear_error(); /* a file not there is no property, not an error */
    return value;
}
