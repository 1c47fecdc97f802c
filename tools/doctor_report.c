/*
 * How tokenkey doctor reports: each check as one line the moment it is
 * done ("ok|warn|FAIL  <check>: <detail>", so a slow token shows how far
 * it got), the hint after the first FAIL, or with --json all of it at the
 * end as {"checks": [{check, status, detail}...], "hint": ...}.
 */
#include <stdarg.h>
#include <stdio.h>

#include <openssl/crypto.h>

#include "cli.h"

static const char *const status_names[] = { "ok", "warn", "FAIL" };
static const char *const json_status[] = { "ok", "warn", "fail" };

TK_DOCTOR_STATUS tk_doctor_report(TK_DOCTOR *d, const char *check, TK_DOCTOR_STATUS status,
                                  const char *fmt, ...)
{
    char detail[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (d->n < TK_DOCTOR_MAX_CHECKS) {
        d->results[d->n].check = check;
        d->results[d->n].status = status;
        d->results[d->n].detail = OPENSSL_strdup(detail);
        d->n++;
    }
    /* Printed as it happens: a slow token shows how far the checks got. */
    if (!d->cli->json) {
        /* Details quote labels that tokens and other tools wrote. */
        printf("%-4s  %s: ", status_names[status], check);
        tk_cli_put_text(stdout, detail);
        putchar('\n');
        fflush(stdout);
    }
    return status;
}

void tk_doctor_hint(TK_DOCTOR *d, const char *fmt, ...)
{
    char hint[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hint, sizeof(hint), fmt, ap);
    va_end(ap);
    OPENSSL_free(d->hint);
    d->hint = OPENSSL_strdup(hint);
    if (!d->cli->json) {
        printf("hint: ");
        tk_cli_put_text(stdout, hint);
        putchar('\n');
    }
}

void tk_doctor_print_json(const TK_DOCTOR *d)
{
    printf("{\"checks\": [");
    for (int i = 0; i < d->n; i++) {
        printf("%s\n  {\"check\": \"%s\", \"status\": \"%s\", \"detail\": ", i ? "," : "",
               d->results[i].check, json_status[d->results[i].status]);
        tk_cli_json_string(stdout, d->results[i].detail != NULL ? d->results[i].detail : "");
        printf("}");
    }
    printf("\n], \"hint\": ");
    if (d->hint != NULL)
        tk_cli_json_string(stdout, d->hint);
    else
        printf("null");
    printf("}\n");
}
