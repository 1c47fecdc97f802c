# The SoftHSM2 test fixture for shell tests (POSIX sh). Source it, then:
#
#   . "$TK_SOURCE_DIR/tests/lib/fixture.sh"
#   tk_fixture_setup [LABEL]    # fresh token in a new mktemp -d directory
#
# Afterwards SOFTHSM2_CONF and TOKENKEY_TEST_{DIR,MODULE,TOKEN,SERIAL,
# PIN_FILE,SO_PIN_FILE} are exported (see softhsm-conf/mktoken.sh), and the
# directory is removed when the script exits (an EXIT trap that keeps the
# script's exit status; INT and TERM exit through it too). Set
# TK_FIXTURE_KEEP=1 to keep the directory for a post-mortem.
#
# Needs TK_MKTOKEN and TK_INIT_TOKEN in the environment (meson's
# tk_test_env sets them). A missing SoftHSM2 is a failure, never a skip.

tk_fixture_teardown() {
    if [ -n "${TK_FIXTURE_DIR:-}" ] && [ -d "$TK_FIXTURE_DIR" ]; then
        if [ "${TK_FIXTURE_KEEP:-0}" = 1 ]; then
            echo "fixture: keeping $TK_FIXTURE_DIR" >&2
        else
            rm -rf "$TK_FIXTURE_DIR"
        fi
    fi
    TK_FIXTURE_DIR=
}

tk_fixture_setup() {
    if [ -z "${TK_MKTOKEN:-}" ] || [ -z "${TK_INIT_TOKEN:-}" ]; then
        echo "fixture: TK_MKTOKEN and TK_INIT_TOKEN must be set (run with 'meson test')" >&2
        return 1
    fi
    TK_FIXTURE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tokenkey-test.XXXXXX") || return 1
    trap 'tk_fixture_rc=$?; tk_fixture_teardown; exit $tk_fixture_rc' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Capture first: eval of a failed command's partial output must not happen.
    tk_fixture_vars=$("$TK_MKTOKEN" "$TK_FIXTURE_DIR" "${1:-tokenkey-test}") || {
        echo "fixture: $TK_MKTOKEN failed" >&2
        return 1
    }
    eval "$tk_fixture_vars"
    [ -n "${SOFTHSM2_CONF:-}" ] && [ -n "${TOKENKEY_TEST_SERIAL:-}" ] || {
        echo "fixture: mktoken.sh did not print the token's variables" >&2
        return 1
    }
}
