# Functions the cases of cases.txt may call; test_badinput.sh puts this in
# front of each case's command (a fresh sh, in an empty directory $WORK).

# cnf LINE...: an openssl.cnf that activates default and tokenkey, with
# LINE... in tokenkey's section; prints its path (OPENSSL_CONF=$(cnf ...)).
cnf() {
    {
        printf 'openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n'
        printf '[provider_sect]\ndefault = default_sect\ntokenkey = tokenkey_sect\n'
        printf '[default_sect]\nactivate = 1\n[tokenkey_sect]\nactivate = 1\n'
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$WORK/openssl.cnf"
    printf '%s' "$WORK/openssl.cnf"
}

# cnf_alone: a file that activates tokenkey and no default provider.
cnf_alone() {
    {
        printf 'openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n'
        printf '[provider_sect]\ntokenkey = tokenkey_sect\n[tokenkey_sect]\nactivate = 1\n'
    } > "$WORK/openssl.cnf"
    printf '%s' "$WORK/openssl.cnf"
}

# cnf_section LINE...: the same section without activate: the provider is
# configured from it when a program loads it (-provider tokenkey).
cnf_section() {
    {
        printf 'openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n'
        printf '[provider_sect]\ntokenkey = tokenkey_sect\n[tokenkey_sect]\n'
        for l in "$@"; do printf '%s\n' "$l"; done
    } > "$WORK/openssl.cnf"
    printf '%s' "$WORK/openssl.cnf"
}

# no_login_sent: fails (exit 99) when a C_Login reached the token through
# tk-tokenshim (TK_TOKENFLAGS_LOGINS=$LOGINS).
no_login_sent() {
    if [ -s "$LOGINS" ]; then
        echo "a PIN was sent to the token: $(wc -l < "$LOGINS") C_Login" >&2
        exit 99
    fi
}

# pad_login_sent: fails (exit 97) unless tk-tokenshim recorded exactly one user C_Login, and
# that without a PIN (the PIN pad's way).
pad_login_sent() {
    if [ "$(grep -c '^C_Login user=1 no-pin$' "$LOGINS" 2>/dev/null)" != 1 ] ||
        [ "$(wc -l < "$LOGINS")" != 1 ]; then
        echo "tk-tokenshim did not record one C_Login without a PIN: $(cat "$LOGINS" 2>/dev/null)" >&2
        exit 97
    fi
}

# one_login_sent: fails (exit 98) unless tk-tokenshim recorded exactly one user C_Login:
# the control that shows no_login_sent's record is kept at all.
one_login_sent() {
    if [ "$(grep -c '^C_Login user=1$' "$LOGINS" 2>/dev/null)" != 1 ]; then
        echo "tk-tokenshim did not record the one C_Login made" >&2
        exit 98
    fi
}


# last_line COMMAND...: runs COMMAND with only the last line of its stderr
# kept, the error a user reads last; exits with COMMAND's status.
last_line() {
    "$@" 2> "$WORK/all.err"
    last_line_status=$?
    tail -n 1 "$WORK/all.err" >&2
    return $last_line_status
}
