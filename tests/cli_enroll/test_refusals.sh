#!/bin/sh
# What the enrollment subcommands refuse, on a fresh SoftHSM2 token: each
# refusal is one line on stderr, quoting the bad value and saying what to
# do, with the documented exit code (1 refused, 2 bad command line, 3 the
# module, token, PIN or key is not usable). A PIN is never taken from argv.
set -u

# shellcheck source=../lib/fixture.sh
. "$TK_FIXTURE_SH"
tk_fixture_setup tk-refuse || exit 1
D=$TK_FIXTURE_DIR
# shellcheck source=lib.sh
. "$TK_CLI_ENROLL_LIB"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
unset TOKENKEY_PIN TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE
PIN=$TOKENKEY_TEST_PIN_FILE
TOK=tk-refuse
# Public files are 0644 whatever the umask.
umask 077

# ---- every subcommand: --help, and no PIN on the command line ----
for cmd in keygen csr import-cert export kafka-config; do
    tk_run 0 "$cmd --help" "$cmd" --help
    case $(head -n 1 "$D/out") in
        "usage: tokenkey $cmd "*) ok "$cmd --help: usage on stdout" ;;
        *) not_ok "$cmd --help: no usage line" ;;
    esac
    tk_has "$cmd --help lists --pin-file" "--pin-file" "$D/out"
    tk_run 2 "$cmd --json" "$cmd" --json
    tk_err "$cmd --json: refused" \
        "tokenkey $cmd: --json is not an option of 'tokenkey $cmd' (see tokenkey $cmd --help)"
    tk_hasnt "$cmd --help does not offer --json" "--json" "$D/out"
    tk_run 0 "tokenkey help $cmd" help "$cmd"
    case $(head -n 1 "$D/out") in
        "usage: tokenkey $cmd "*) ok "tokenkey help $cmd: its usage" ;;
        *) not_ok "tokenkey help $cmd: not its usage" ;;
    esac
    for flag in "--pin 1234" "--pin=1234" "--so-pin 1234"; do
        # shellcheck disable=SC2086 # the flag and its value are two words
        tk_run 2 "$cmd $flag" "$cmd" --key k $flag
        tk_err "$cmd $flag: refused" \
            "tokenkey $cmd: PINs are never taken from the command line: use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt"
    done
done
for cmd in csr import-cert export kafka-config; do
    tk_run 2 "$cmd: a PIN in the --key URI" "$cmd" --key "pkcs11:object=k;pin-value=1234"
    tk_err "$cmd: a PIN in the --key URI refused" \
        "tokenkey $cmd: the --key URI holds pin-value=: PINs are never taken from the command line (ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt"
done
tk_run 2 "keygen: a PIN in the --token URI" keygen --type ec:P-256 --label x \
    --token "pkcs11:token=$TOK;pin-value=1234"
tk_err "keygen: a PIN in the --token URI refused" \
    "tokenkey keygen: the --token URI holds pin-value=: PINs are never taken from the command line (ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt"

# ---- --version: the build, and the OpenSSL it runs on ----
tk_run 0 "--version" --version
tk_quiet "--version: nothing on stderr"
openssl list -providers -provider tokenkey > "$D/providers.out" 2> /dev/null ||
    not_ok "--version: openssl list -providers -provider tokenkey failed"
provider_version=$(sed -n 's/^ *version: //p' "$D/providers.out")
[ -n "$provider_version" ] || not_ok "--version: no provider version from openssl list"
case $(head -n 1 "$D/out") in
    "tokenkey $provider_version (gcc "*", OpenSSL 3."*")" | "tokenkey $provider_version (clang "*", OpenSSL 3."*")")
        ok "--version: the provider's version ($provider_version), compiler and OpenSSL" ;;
    *) not_ok "--version: '$(head -n 1 "$D/out")' is not version '$provider_version' and build" ;;
esac
# openssl version: "OpenSSL 3.0.x DATE (Library: the one loaded)".
tk_line "--version: the libcrypto it runs on" \
    "running on $(openssl version | sed -n 's/.*(Library: \(.*\))$/\1/p')" "$D/out"
tk_run 2 "--version with an argument" --version extra
tk_err "--version with an argument explained" "tokenkey: --version takes no arguments"

# ---- the command line: checked whole before any token is touched ----
tk_run 2 "an option given twice" keygen --type ec:P-256 --label x --label y
tk_err "an option given twice explained" "tokenkey keygen: option '--label' given twice: give it once"
tk_run 2 "a flag given twice" list --json --json
tk_err "a flag given twice explained" "tokenkey list: option '--json' given twice: give it once"
tk_run 2 "--opt=value for a flag" list --json=yes
tk_err "--opt=value for a flag explained" "tokenkey list: option '--json' takes no value"
tk_run 2 "a single-dash option" csr -k a
tk_err "a single-dash option explained" \
    "tokenkey csr: unknown option '-k': options start with -- (see tokenkey csr --help)"
tk_run 2 "tokens --key" tokens --key a
tk_err "tokens --key explained" "tokenkey tokens: --key is not an option of 'tokenkey tokens' (see tokenkey tokens --help)"
# A module whose only slot holds no initialised token (SoftHSM2 with an empty token directory).
mkdir -p "$D/empty-tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\n' "$D/empty-tokens" > "$D/empty.conf"
token_conf=$SOFTHSM2_CONF
export SOFTHSM2_CONF="$D/empty.conf"
tk_run 3 "tokens: none initialised" tokens
tk_err "tokens: none initialised explained" \
    "tokenkey tokens: no initialised token in '$TOKENKEY_TEST_MODULE'"
tk_run 0 "tokens --json: none initialised" tokens --json
tk_line "tokens --json: an empty array" "[]" "$D/out"
export SOFTHSM2_CONF="$token_conf"
# A URI that does not parse is a bad command line, and never quoted (it may hold a secret).
tk_run 2 "a malformed --token URI" csr --key a --subject /CN=x --token "pkcs11:token=t%zz;x-secret=s3cr3t"
tk_err "a malformed --token URI explained" \
    "tokenkey csr: the --token URI does not parse: bad percent-escape at offset 14 (attribute 'token')"
tk_run 2 "--token against the --key URI" csr --key "pkcs11:token=$TOK;object=a" --token other --subject /CN=x
tk_err "--token against the --key URI explained" \
    "tokenkey csr: --token and the --key URI name different tokens (token=): give the token once"
for cmd in list delete inspect doctor; do
    tk_run 2 "$cmd: a PIN in the --token URI" "$cmd" --token "pkcs11:token=$TOK?pin-value=1234"
    tk_err "$cmd: a PIN in the --token URI refused" \
        "tokenkey $cmd: the --token URI holds pin-value=: PINs are never taken from the command line (ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt"
done

# ---- keygen ----
tk_run 2 "keygen: bad --type" keygen --type rsa:1024 --label x
tk_err "keygen: bad --type explained" \
    "tokenkey keygen: unknown key type 'rsa:1024': use rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384, ec:P-521 or ed25519"
tk_run 2 "keygen: no --type" keygen --label x
tk_err "keygen: no --type explained" \
    "tokenkey keygen: --type is required: rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384, ec:P-521 or ed25519"
tk_run 2 "keygen: no --label" keygen --type ec:P-256
tk_err "keygen: no --label explained" \
    "tokenkey keygen: --label is required: the name to find the key by later"
tk_run 2 "keygen: bad --id" keygen --type ec:P-256 --label x --id 0g
tk_err "keygen: bad --id explained" \
    "tokenkey keygen: bad --id '0g': give 1 to 64 bytes as hex digits, e.g. --id 0a1b"
label_rule="1 to 128 bytes of UTF-8, no control characters, no '/' and not starting with 'pkcs11:' (--key takes such a value as a key reference file or a URI)"
tk_run 2 "keygen: a '/' in --label" keygen --type ec:P-256 --label team/orders
tk_err "keygen: a '/' in --label explained" "tokenkey keygen: bad --label 'team/orders': $label_rule"
tk_run 2 "keygen: --label not UTF-8" keygen --type ec:P-256 --label "$(printf 'bad\377\376')"
tk_err "keygen: --label not UTF-8 explained" "tokenkey keygen: bad --label 'bad\xff\xfe': $label_rule"
tk_run 2 "keygen: a newline in --label" keygen --type ec:P-256 --label "$(printf 'new\nline')"
tk_err "keygen: a newline in --label explained" "tokenkey keygen: bad --label 'new\x0aline': $label_rule"
# pin-value anywhere: --key would refuse that label (a URI that may hold a PIN), so no key gets it.
tk_run 2 "keygen: pin-value in --label" keygen --type ec:P-256 --label orders-PIN-value-test
tk_err "keygen: pin-value in --label explained" \
    "tokenkey keygen: bad --label: it mentions pin-value, and --key refuses such a value unread, as a URI that may hold a PIN: choose another label"
# C1 controls too (U+009B is a one-character CSI): list and inspect escape them, keygen refuses them.
tk_run 2 "keygen: a C1 control in --label" keygen --type ec:P-256 --label "$(printf 'csi\302\233x')"
tk_err "keygen: a C1 control in --label explained" "tokenkey keygen: bad --label 'csi\xc2\x9bx': $label_rule"
tk_run 2 "keygen: a --label that reads as a URI" keygen --type ec:P-256 --label PKCS11:x
tk_err "keygen: a --label that reads as a URI explained" "tokenkey keygen: bad --label 'PKCS11:x': $label_rule"
tk_run 2 "keygen: stray argument" keygen --type ec:P-256 --label x extra
tk_err "keygen: stray argument explained" \
    "tokenkey keygen: unexpected argument 5 after 'tokenkey keygen' (not shown: it may be a PIN typed in the wrong place; see tokenkey keygen --help)"
printf 'not-the-pin\n' > "$D/wrong.pin"
chmod 600 "$D/wrong.pin"
tk_run 3 "keygen: wrong PIN" keygen --type ec:P-256 --label x --pin-file "$D/wrong.pin"
tk_err "keygen: wrong PIN explained" \
    "tokenkey keygen: the token rejected the PIN from '$D/wrong.pin' (tokenkey never retries a PIN): check it before the token locks"
tk_run 3 "keygen: no such token" keygen --type ec:P-256 --label x --token nosuch --pin-file "$PIN"
tk_err "keygen: no such token explained" \
    "tokenkey keygen: no token matches 'pkcs11:token=nosuch' in '$TOKENKEY_TEST_MODULE': see 'tokenkey tokens'"
tk_run 0 "keygen a" keygen --type ec:P-256 --label a --id 0a --pin-file "$PIN"
tk_run 0 "keygen b" keygen --type ec:P-256 --label b --id 0b --pin-file "$PIN"
tk_run 1 "keygen: duplicate label" keygen --type ed25519 --label a --pin-file "$PIN"
tk_err "keygen: duplicate label explained" \
    "tokenkey keygen: token '$TOK' already has a key labelled 'a': choose another --label (or remove it: tokenkey delete --key a --yes)"
# The hint is a command to copy: the label is one shell word in it, whatever it holds.
tk_run 0 "keygen a label with a quote" keygen --type ec:P-256 --label "it's mine" --id 0c --pin-file "$PIN"
tk_run 1 "keygen: that label again" keygen --type ec:P-256 --label "it's mine" --pin-file "$PIN"
hint=$(sed -n "s/.*(or remove it: tokenkey \(.*\))\$/\1/p" "$D/err")
tk_if "keygen: the hint quotes the label for the shell" "$hint" = "delete --key 'it'\\''s mine' --yes"
# The hint is a command line: split it as the shell would (a subshell first: a
# quote left open would end this script).
if (eval "set -- $hint") 2> /dev/null; then eval "set -- $hint"; else set -- hint-does-not-parse; fi
tk_run 0 "keygen: the hint's delete command works" "$@" --pin-file "$PIN"
tk_run 0 "list after the hint's delete" list --pin-file "$PIN"
tk_hasnt "keygen: the hint deleted that key" "private-key 'it's mine'" "$D/out"
tk_run 1 "keygen: duplicate id" keygen --type rsa:2048 --label c --id 0A --pin-file "$PIN"
tk_err "keygen: duplicate id explained" \
    "tokenkey keygen: token '$TOK' already has an object with id 0A: choose another --id, or leave --id out for a random one"
tk_run 0 "list" list --pin-file "$PIN"
n=$(grep -c "^private-key " "$D/out")
if [ "$n" -eq 2 ]; then ok "refused keygens made nothing"; else not_ok "$n private keys on the token"; fi

# ---- csr: the command line is checked before the token is touched ----
tk_run 2 "csr: bad --subject" csr --key a --subject "/CN=a/" --pin-file "$PIN"
tk_err "csr: bad --subject explained" \
    "tokenkey csr: bad --subject: the subject ends with '/': remove it, or write '\\/' for a '/' in the last value"
tk_run 2 "csr: unknown attribute" csr --key a --subject "CN=a,Org=b" --pin-file "$PIN"
tk_err "csr: unknown attribute explained" \
    "tokenkey csr: bad --subject: unknown attribute type 'Org': use C, ST, L, O, OU, CN, DC, UID, emailAddress, serialNumber (or a dotted OID)"
tk_run 2 "csr: bad --san" csr --key a --subject /CN=a --san "DNS:my_host.example" --pin-file "$PIN"
tk_err "csr: bad --san explained" \
    "tokenkey csr: bad --san: 'DNS:my_host.example' is not a valid DNS name: labels of letters, digits and '-', separated by dots, no trailing dot; '*' only as the whole first label"
tk_run 2 "csr: --san IP without a type" csr --key a --subject /CN=a --san "192.0.2.1" \
    --pin-file "$PIN"
tk_err "csr: --san without a type explained" \
    "tokenkey csr: bad --san: '192.0.2.1' has no type: write DNS:name, IP:address, email:address or URI:uri (a ',' inside a URI must be written %2C)"
tk_run 2 "csr: no --subject" csr --key a --pin-file "$PIN"
tk_err "csr: no --subject explained" \
    "tokenkey csr: --subject is required, e.g. --subject '/CN=my-client/O=Acme'"
tk_run 3 "csr: no such key" csr --key nokey --subject /CN=a --pin-file "$PIN"
tk_err "csr: no such key explained" \
    "tokenkey csr: no private key matches 'nokey' on token '$TOK': see 'tokenkey list'"
# A pin-source= in the key's URI may be the PIN itself, typed in the wrong place: not echoed.
tk_run 3 "csr: no such key, pin-source= in its URI" csr --key "pkcs11:object=nokey?pin-source=qzx-4711" \
    --subject /CN=a --pin-file "$PIN"
tk_err "csr: no such key, pin-source= in its URI: not shown" \
    "tokenkey csr: no private key matches 'pkcs11:object=nokey;type=private' on token '$TOK': see 'tokenkey list'"
: > "$D/exists.csr"
tk_run 1 "csr: --out exists" csr --key a --subject /CN=a --out "$D/exists.csr" --pin-file "$PIN"
tk_err "csr: --out exists explained" \
    "tokenkey csr: '$D/exists.csr' already exists: pass --force to overwrite it"
tk_run 0 "csr: --force" csr --key a --subject /CN=a --out "$D/exists.csr" --force --pin-file "$PIN"
tk_mode "csr: a replaced file is 644 too" 644 "$D/exists.csr"

# ---- import-cert ----
tk_make_ca refuse-ca
for k in a b; do
    tk_run 0 "csr for $k" csr --key "$k" --subject "/CN=client-$k" --out "$D/$k.csr" \
        --pin-file "$PIN"
done
tk_sign refuse-ca "$D/a.csr" "$D/a.pem"
tk_sign refuse-ca "$D/b.csr" "$D/expired.pem" -startdate 20200101000000Z -enddate 20210101000000Z
tk_sign refuse-ca "$D/b.csr" "$D/notyet.pem" -startdate 20990101000000Z -enddate 20991231000000Z
A=$(tk_uri a private %0A)
B=$(tk_uri b private %0B)
tk_run 1 "import-cert: another key's certificate" import-cert --key b --cert "$D/a.pem" \
    --pin-file "$PIN"
tk_err "import-cert: mismatch explained" \
    "tokenkey import-cert: the certificate in '$D/a.pem' is not for key '$B': its public key differs (was the request made with another key?)"
tk_run 1 "import-cert: expired" import-cert --key b --cert "$D/expired.pem" --pin-file "$PIN"
tk_err "import-cert: expired explained" \
    "tokenkey import-cert: the certificate in '$D/expired.pem' expired on 2021-01-01 00:00:00 UTC: ask the CA for a new one"
tk_run 1 "import-cert: not yet valid" import-cert --key b --cert "$D/notyet.pem" --pin-file "$PIN"
tk_err "import-cert: not yet valid explained" \
    "tokenkey import-cert: the certificate in '$D/notyet.pem' is not valid before 2099-01-01 00:00:00 UTC: check this machine's clock, or wait"
cat "$D/a.pem" "$D/refuse-ca.pem" > "$D/two.pem"
tk_run 1 "import-cert: two certificates in --cert" import-cert --key a --cert "$D/two.pem" \
    --pin-file "$PIN"
tk_err "import-cert: two certificates explained" \
    "tokenkey import-cert: '$D/two.pem' holds 2 certificates: give the client certificate alone in --cert and the CA certificates in --chain"
tk_run 1 "import-cert: not a certificate" import-cert --key a --cert "$D/a.csr" --pin-file "$PIN"
tk_err "import-cert: not a certificate explained" \
    "tokenkey import-cert: --cert '$D/a.csr' holds no certificate: give a PEM or DER X.509 certificate file"
tk_run 1 "import-cert: no such file" import-cert --key a --cert "$D/none.pem" --pin-file "$PIN"
tk_err "import-cert: no such file explained" \
    "tokenkey import-cert: cannot read --cert '$D/none.pem': No such file or directory"
openssl x509 -in "$D/a.pem" -outform DER -out "$D/a.der" || exit 1
tk_run 0 "import-cert: DER" import-cert --key a --cert "$D/a.der" --pin-file "$PIN"
tk_line "import-cert: the certificate's URI" "$(tk_uri a cert %0A)" "$D/out"
tk_run 1 "import-cert: a second certificate" import-cert --key a --cert "$D/a.pem" \
    --pin-file "$PIN"
tk_err "import-cert: a second certificate explained" \
    "tokenkey import-cert: token '$TOK' already has a certificate for key '$A': pass --replace to replace it"
tk_run 0 "import-cert --replace" import-cert --key a --cert "$D/a.pem" --replace --pin-file "$PIN"
tk_run 0 "list after --replace" list --pin-file "$PIN"
n=$(grep -c "^certificate 'a' " "$D/out")
if [ "$n" -eq 1 ]; then ok "--replace leaves one certificate"; else not_ok "$n certificates for a"; fi

# ---- export ----
tk_run 1 "export: key without a certificate" export --key b --out-dir "$D/exp-b" --pin-file "$PIN"
tk_err "export: no certificate explained" \
    "tokenkey export: no certificate for $B on the token: run tokenkey import-cert first"
tk_if "export: a failed export leaves no empty --out-dir" ! -e "$D/exp-b"
tk_run 0 "export --key-out only" export --key b --key-out "$D/b.ref" --pin-file "$PIN"
tk_line "export --key-out: the key reference" "-----BEGIN TOKENKEY KEY REFERENCE-----" "$D/b.ref"
tk_run 2 "export: nowhere to write" export --key a --pin-file "$PIN"
tk_err "export: nowhere explained" \
    "tokenkey export: nowhere to write: give --out-dir DIR, or --key-out FILE and/or --cert-out FILE"
tk_run 2 "export: key and certificate to one file" export --key a --key-out "$D/same.pem" \
    --cert-out "$D/same.pem" --force --pin-file "$PIN"
tk_err "export: one file explained" \
    "tokenkey export: the key reference and the certificate would go to the same file '$D/same.pem': give them different names"
tk_if "export: nothing written to it" ! -e "$D/same.pem"
# The second file cannot be written: the first, made by this run, goes too (no half export,
# and running it again needs no --force).
tk_run 1 "export: the certificate's directory missing" export --key a --key-out "$D/half.pem" \
    --cert-out "$D/no-such-dir/cert.pem" --pin-file "$PIN"
tk_err "export: the missing directory explained" \
    "tokenkey export: cannot write '$D/no-such-dir/cert.pem': No such file or directory"
tk_if "export: the key reference it wrote is removed" ! -e "$D/half.pem"
# One file by two names is found whatever the spelling, and before --out-dir is left behind.
tk_run 2 "export: one file, spelt two ways" export --key a --key-out "$D/same2.pem" \
    --cert-out "$D/./same2.pem" --force --pin-file "$PIN"
tk_err "export: one file spelt two ways explained" \
    "tokenkey export: the key reference and the certificate would go to the same file '$D/./same2.pem': give them different names"
tk_run 2 "export: --cert-out is --out-dir's key.pem" export --key a --out-dir "$D/exp-same" \
    --cert-out "$D/exp-same/../exp-same/key.pem" --pin-file "$PIN"
tk_if "export: --out-dir made for it removed again" ! -e "$D/exp-same"
# A link to a regular file is written through (the link stays); a link to a device or to
# a file descriptor (/dev/stdout, /proc/self/fd/1) is refused, even with --force.
echo old > "$D/real-key.pem"
ln -s "$D/real-key.pem" "$D/link-key.pem"
tk_run 0 "export --force through a link" export --key a --key-out "$D/link-key.pem" --force \
    --pin-file "$PIN"
tk_if "export through a link: still a link" -L "$D/link-key.pem"
tk_line "export through a link: the file it names written" "-----BEGIN TOKENKEY KEY REFERENCE-----" \
    "$D/real-key.pem"
ln -s /proc/self/fd/1 "$D/fd-link"
tk_run 1 "export --force to a link to a file descriptor" export --key a --key-out "$D/fd-link" \
    --force --pin-file "$PIN"
tk_err "export to a link to a file descriptor explained" \
    "tokenkey export: '$D/fd-link' is not a regular file: give a file name"
tk_if "export to a link to a file descriptor: the link stays" -L "$D/fd-link"
# With --force, the files change together or not at all: the certificate cannot be written,
# so the key reference it replaces stays as it was.
mkdir "$D/renew" && echo old-key > "$D/renew/key.pem"
tk_run 1 "export --force, the second file fails" export --key a --key-out "$D/renew/key.pem" \
    --cert-out "$D/no-such-dir/cert.pem" --force --pin-file "$PIN"
tk_if "export --force, the second file fails: the first unchanged" "$(cat "$D/renew/key.pem")" = old-key
tk_if "export --force, the second file fails: no temporary file left" \
    "$(find "$D/renew" -name '*.tmp.*' | wc -l)" -eq 0
# A writable file in a directory that is not: the message says which one must be writable.
mkdir "$D/ro-dir" && echo old > "$D/ro-dir/key.pem" && chmod 0666 "$D/ro-dir/key.pem"
chmod 0555 "$D/ro-dir"
ro_pin=$PIN
as_user=
cli=$TK_CLI modules=$OPENSSL_MODULES
if [ "$(id -u)" -eq 0 ]; then
    # root writes anywhere: run this one command as nobody, with the token and a PIN file of
    # its own open to it, and the CLI and tokenkey.so copied where nobody reaches them (a
    # clone under /root, mode 0700, is not).
    as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
    ro_pin=$D/nobody.pin
    cp "$PIN" "$ro_pin" && chown 65534 "$ro_pin" && chmod 0600 "$ro_pin"
    chmod o+x "$D" "$(dirname "$SOFTHSM2_CONF")" && chmod o+r "$SOFTHSM2_CONF" &&
        chmod -R o+rwX "$(dirname "$SOFTHSM2_CONF")/tokens"
    mkdir -m 0755 "$D/nobody-bin" && cp "$TK_CLI" "$OPENSSL_MODULES/tokenkey.so" "$D/nobody-bin/"
    chmod 0755 "$D/nobody-bin/"*
    TK_CLI=$D/nobody-bin/tokenkey OPENSSL_MODULES=$D/nobody-bin
fi
TK_CLI_WRAP="$as_user" tk_run 1 "export --force into a read-only directory" export --key a \
    --key-out "$D/ro-dir/key.pem" --force --pin-file "$ro_pin"
TK_CLI=$cli OPENSSL_MODULES=$modules
tk_err "export into a read-only directory explained" \
    "tokenkey export: cannot write '$D/ro-dir/key.pem': the directory '$D/ro-dir' is not writable (files are replaced through a new file beside them): write elsewhere, or as a user who may write there"
tk_if "export into a read-only directory: the file unchanged" "$(cat "$D/ro-dir/key.pem")" = old
chmod 0755 "$D/ro-dir"
tk_run 0 "export a" export --key a --out-dir "$D/exp-a" --pin-file "$PIN"
tk_if "export: --out-dir made 0755 whatever the umask" "$(stat -c %a "$D/exp-a")" = 755
tk_run 1 "export again" export --key a --out-dir "$D/exp-a" --pin-file "$PIN"
tk_err "export again explained" \
    "tokenkey export: '$D/exp-a/key.pem' already exists: pass --force to overwrite it"

# ---- kafka-config ----
tk_run 2 "kafka-config: bad --bootstrap" kafka-config --key a --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k" --bootstrap "broker 9093" --pin-file "$PIN"
tk_err "kafka-config: bad --bootstrap explained" \
    "tokenkey kafka-config: bad --bootstrap 'broker 9093': give HOST:PORT, or several separated by commas"
tk_run 3 "kafka-config: no provider module" kafka-config --key a --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k" --provider-module "$D/none.so" --pin-file "$PIN"
tk_err "kafka-config: no provider module explained" \
    "tokenkey kafka-config: provider module '$D/none.so' not found: install tokenkey, or pass --provider-module PATH"
tk_if "kafka-config: refused before --out-dir is made" ! -e "$D/k"
# What the client would load as a provider, and fail on far from the cause.
tk_run 3 "kafka-config: a PKCS#11 module as provider" kafka-config --key a --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k" --provider-module "$TOKENKEY_TEST_MODULE" --pin-file "$PIN"
tk_err "kafka-config: a PKCS#11 module as provider explained" \
    "tokenkey kafka-config: --provider-module '$TOKENKEY_TEST_MODULE' is not an OpenSSL provider (it has no OSSL_provider_init): give the path of tokenkey.so"
tk_run 3 "kafka-config: a text file as provider" kafka-config --key a --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k" --provider-module "$D/a.csr" --pin-file "$PIN"
tk_has "kafka-config: a text file as provider explained" \
    "tokenkey kafka-config: --provider-module cannot be loaded: $D/a.csr: " "$D/err"
tk_if "kafka-config: refused before --out-dir is made, again" ! -e "$D/k"
mkfifo "$D/pin.fifo"
tk_run 3 "kafka-config: a pipe as --pin-file" kafka-config --key a --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$D/pin.fifo"
tk_err "kafka-config: a pipe as --pin-file explained" \
    "tokenkey kafka-config: --pin-file '$D/pin.fifo' is not a regular file: openssl.cnf must name a PIN file the client can read later"
tk_run 1 "kafka-config: --ca is no certificate" kafka-config --key a --ca "$D/a.csr" \
    --out-dir "$D/k" --pin-file "$PIN"
tk_err "kafka-config: bad --ca explained" \
    "tokenkey kafka-config: --ca '$D/a.csr' holds no certificate: give a PEM or DER X.509 certificate file"
tk_run 1 "kafka-config: --ca is a client certificate" kafka-config --key a --ca "$D/a.pem" \
    --out-dir "$D/k" --pin-file "$PIN"
tk_err "kafka-config: a leaf as --ca explained" \
    "tokenkey kafka-config: --ca '$D/a.pem' holds no CA certificate ('CN=client-a', issued by 'CN=refuse-ca', is not one): give the certificate of the CA that signs the brokers' certificates"
# A damaged block between two good ones: refused, not read as the end of the file (ca.pem
# would lack a CA, and TLS fail much later).
{ cat "$D/refuse-ca.pem"; sed '3s/^./!/' "$D/refuse-ca.pem"; cat "$D/refuse-ca.pem"; } \
    > "$D/ca-damaged.pem"
tk_run 1 "kafka-config: a damaged certificate in --ca" kafka-config --key a \
    --ca "$D/ca-damaged.pem" --out-dir "$D/k-damaged" --pin-file "$PIN"
tk_err "kafka-config: the damaged certificate named" \
    "tokenkey kafka-config: --ca '$D/ca-damaged.pem': certificate 2 in the file is damaged (its PEM block or the DER in it does not read): fix or replace the file"
tk_if "kafka-config: nothing written after a damaged --ca" ! -e "$D/k-damaged"
# An empty block raises nothing, but stops OpenSSL's reading as much: refused too.
{ cat "$D/refuse-ca.pem"; printf -- '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'
  cat "$D/refuse-ca.pem"; } > "$D/ca-empty-block.pem"
tk_run 1 "kafka-config: an empty certificate block in --ca" kafka-config --key a \
    --ca "$D/ca-empty-block.pem" --out-dir "$D/k-damaged" --pin-file "$PIN"
tk_has "kafka-config: the empty block named" "certificate 2 in the file is damaged" "$D/err"
# A CA with trust settings (TRUSTED CERTIFICATE, as openssl x509 -addtrust writes it), which
# OpenSSL reads as a CA: taken, and written to ca.pem with its trust settings.
openssl x509 -in "$D/refuse-ca.pem" -addtrust clientAuth -out "$D/ca-trusted.pem" ||
    not_ok "kafka-config: cannot make a TRUSTED CERTIFICATE"
tk_run 0 "kafka-config: a TRUSTED CERTIFICATE as --ca" kafka-config --key a \
    --ca "$D/ca-trusted.pem" --out-dir "$D/k-trusted" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
    --pin-file "$PIN"
tk_line "kafka-config: ca.pem keeps the trust settings" "-----BEGIN TRUSTED CERTIFICATE-----" \
    "$D/k-trusted/ca.pem"
# What --ca must accept: an intermediate CA alone, and a broker's self-signed certificate.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/inter.key" \
    -subj /CN=inter -out "$D/inter.csr" > "$D/openssl.log" 2>&1 || { cat "$D/openssl.log"; exit 1; }
printf 'basicConstraints=critical,CA:TRUE\n' > "$D/ca.ext"
tk_ca_sign refuse-ca "$D/inter.csr" "$D/inter.pem" 30 "$D/ca.ext" || { cat "$D/openssl.log"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/broker.key" \
    -subj /CN=broker -addext basicConstraints=critical,CA:FALSE -days 30 -out "$D/broker.pem" \
    > "$D/openssl.log" 2>&1 || { cat "$D/openssl.log"; exit 1; }
# A module is a path: a bare name is refused (dlopen would search the library path for it,
# not load the file in the current directory that the check looked at); ./NAME loads.
mkdir "$D/mod-here" && cp "$TOKENKEY_TEST_MODULE" "$D/mod-here/"
mod_name=$(basename "$TOKENKEY_TEST_MODULE")
rc=0
(cd "$D/mod-here" && "$TK_CLI" tokens --module "$mod_name" > "$D/out" 2> "$D/err") || rc=$?
tk_if "tokens --module NAME: refused" "$rc" -eq 3
tk_err "tokens --module NAME: explained" \
    "tokenkey tokens: PKCS#11 module '$mod_name' is not a path: give the module's path (./$mod_name for the one in the current directory)"
rc=0
(cd "$D/mod-here" && "$TK_CLI" tokens --module "./$mod_name" > "$D/out" 2> "$D/err") || rc=$?
tk_if "tokens --module ./NAME: loads" "$rc" -eq 0
tk_has "tokens --module ./NAME: the token listed" "$TOK" "$D/out"
# import-cert --chain: the CAs on the way up from the certificate, in any order; nothing else.
"$TK_STORE_MKOBJ" keygen ec chained 6c > "$D/mkobj.log" 2>&1 || { cat "$D/mkobj.log"; exit 1; }
tk_run 0 "csr for a key under the intermediate CA" csr --key chained --subject /CN=chained \
    --out "$D/chained.csr" --pin-file "$PIN"
tk_sign inter "$D/chained.csr" "$D/chained.pem" || { cat "$D/openssl.log"; exit 1; }
cat "$D/a.pem" "$D/refuse-ca.pem" > "$D/leaf-and-ca.pem"
tk_run 1 "import-cert: a client certificate in --chain" import-cert --key chained \
    --cert "$D/chained.pem" --chain "$D/leaf-and-ca.pem" --pin-file "$PIN"
tk_err "import-cert: a client certificate in --chain explained" \
    "tokenkey import-cert: certificate 1 in --chain '$D/leaf-and-ca.pem' ('/CN=client-a') is not a CA certificate: give only the CAs above the client certificate"
tk_make_ca stray-ca
tk_run 1 "import-cert: a CA off the way up in --chain" import-cert --key chained \
    --cert "$D/chained.pem" --chain "$D/stray-ca.pem" --pin-file "$PIN"
tk_err "import-cert: a CA off the way up explained" \
    "tokenkey import-cert: certificate 1 in --chain '$D/stray-ca.pem' ('/CN=stray-ca') did not issue the certificate nor a CA above it in the file: give only the CAs on its way up, each one (is a CA between them missing?)"
tk_run 0 "list: the refused chains stored nothing" list --pin-file "$PIN"
tk_hasnt "refused chains: no certificate for chained" "certificate 'chained'" "$D/out"
# The root alone, its intermediate left out: the root is not shown to be above the certificate.
tk_run 1 "import-cert: the intermediate missing from --chain" import-cert --key chained \
    --cert "$D/chained.pem" --chain "$D/refuse-ca.pem" --pin-file "$PIN"
tk_has "import-cert: the missing intermediate suggested" "(is a CA between them missing?)" "$D/err"
# Root first, the intermediate twice: a CA given twice is on the way up too.
cat "$D/refuse-ca.pem" "$D/inter.pem" "$D/inter.pem" > "$D/root-then-inter.pem"
tk_run 0 "import-cert: root and intermediate in --chain, top first" import-cert --key chained \
    --cert "$D/chained.pem" --chain "$D/root-then-inter.pem" --pin-file "$PIN"
tk_run 0 "list after the chained import" list --pin-file "$PIN"
tk_has "chained import: the certificate" "certificate 'chained' " "$D/out"
tk_has "chained import: the intermediate" "certificate 'inter' " "$D/out"
tk_has "chained import: the root" "certificate 'refuse-ca' " "$D/out"
tk_run 0 "kafka-config: an intermediate CA as --ca" kafka-config --key a --ca "$D/inter.pem" \
    --out-dir "$D/k-inter" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$PIN"
# --out-dir . names the current directory as itself, not ".../k-dot/./key.pem".
mkdir "$D/k-dot"
rc=0
(cd "$D/k-dot" && "$TK_CLI" kafka-config --key a --ca "$D/inter.pem" --out-dir . \
    --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$PIN" > "$D/out" 2> "$D/err") || rc=$?
tk_if "kafka-config --out-dir .: exit 0" "$rc" -eq 0
tk_line "kafka-config --out-dir .: the key's path as the directory's" "ssl.key.location=$(cd "$D/k-dot" && pwd -P)/key.pem" \
    "$D/k-dot/client.properties"
# umask 077 (above): the directory it made is still readable by a client of another user.
tk_if "kafka-config: --out-dir made 0755 whatever the umask" "$(stat -c %a "$D/k-inter")" = 755
tk_run 0 "kafka-config: a self-signed broker certificate as --ca" kafka-config --key a \
    --ca "$D/broker.pem" --out-dir "$D/k-broker" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
    --pin-file "$PIN"
# A provider named without a directory is the one in the current directory, as openssl.cnf says.
cp "$TK_PROVIDER_DIR/tokenkey.so" "$D/tk-copy.so"
cd "$D" || exit 1
tk_run 0 "kafka-config: --provider-module in the current directory" kafka-config --key a \
    --ca "$D/refuse-ca.pem" --out-dir "$D/k-bare" --provider-module tk-copy.so --pin-file "$PIN"
cd - > /dev/null || exit 1
tk_line "kafka-config: openssl.cnf names it by its full path" "module = $D/tk-copy.so" \
    "$D/k-bare/openssl.cnf"
# A renewal with OPENSSL_CONF naming the client's file keeps its provider.
OPENSSL_CONF="$D/k-bare/openssl.cnf" tk_run 0 "kafka-config: a renewal without --provider-module" \
    kafka-config --key a --ca "$D/refuse-ca.pem" --out-dir "$D/k-bare" --force --pin-file "$PIN"
tk_line "kafka-config: the renewal keeps the client's provider" "module = $D/tk-copy.so" \
    "$D/k-bare/openssl.cnf"
sed "s|^module = .*|module = $D/gone.so|" "$D/k-bare/openssl.cnf" > "$D/gone.cnf"
OPENSSL_CONF="$D/gone.cnf" tk_run 3 "kafka-config: the client's provider is gone" \
    kafka-config --key a --ca "$D/refuse-ca.pem" --out-dir "$D/k-gone" --pin-file "$PIN"
tk_err "kafka-config: the client's provider is gone, explained" \
    "tokenkey kafka-config: provider module '$D/gone.so' (the 'module' in section [tokenkey_sect] of '$D/gone.cnf') not found: install tokenkey, or pass --provider-module PATH"
sed "s|^module = .*|module = $TOKENKEY_TEST_MODULE|" "$D/k-bare/openssl.cnf" > "$D/p11mod.cnf"
OPENSSL_CONF="$D/p11mod.cnf" tk_run 3 "kafka-config: the client's provider is a PKCS#11 module" \
    kafka-config --key a --ca "$D/refuse-ca.pem" --out-dir "$D/k-gone" --pin-file "$PIN"
tk_err "kafka-config: the client's provider is a PKCS#11 module, explained" \
    "tokenkey kafka-config: the 'module' in section [tokenkey_sect] of '$D/p11mod.cnf', '$TOKENKEY_TEST_MODULE' is not an OpenSSL provider (it has no OSSL_provider_init): give the path of tokenkey.so"
# Without --provider-module or a client's 'module', the tokenkey.so OpenSSL would load by
# name: under OPENSSL_MODULES when that is set (meson's test environment sets it).
tk_run 0 "kafka-config: the provider from OPENSSL_MODULES" kafka-config --key a \
    --ca "$D/refuse-ca.pem" --out-dir "$D/k-modules" --pin-file "$PIN"
tk_line "kafka-config: openssl.cnf names OPENSSL_MODULES's tokenkey.so" \
    "module = $OPENSSL_MODULES/tokenkey.so" "$D/k-modules/openssl.cnf"
mkdir -p "$D/no-modules"
OPENSSL_MODULES="$D/no-modules" tk_run 3 "kafka-config: no tokenkey.so in OPENSSL_MODULES" \
    kafka-config --key a --ca "$D/refuse-ca.pem" --out-dir "$D/k-gone" --pin-file "$PIN"
tk_err "kafka-config: no tokenkey.so in OPENSSL_MODULES, explained" \
    "tokenkey kafka-config: provider module '$D/no-modules/tokenkey.so' (from OPENSSL_MODULES) not found: install tokenkey, or pass --provider-module PATH"
cp "$D/a.csr" "$D/no-modules/tokenkey.so"
OPENSSL_MODULES="$D/no-modules" tk_run 3 "kafka-config: OPENSSL_MODULES's tokenkey.so is no provider" \
    kafka-config --key a --ca "$D/refuse-ca.pem" --out-dir "$D/k-gone" --pin-file "$PIN"
tk_has "kafka-config: OPENSSL_MODULES's tokenkey.so is no provider, explained" \
    "tokenkey kafka-config: tokenkey.so in OPENSSL_MODULES cannot be loaded: $D/no-modules/tokenkey.so: " "$D/err"
tk_if "kafka-config: refused before --out-dir is made, OPENSSL_MODULES" ! -e "$D/k-gone"
# A key the tokenkey section holds that nothing reads is named; OpenSSL's own keys, dotted
# (x.activate) or not (soft_load), are not.
printf '%s\n' 'openssl_conf = openssl_init' '[openssl_init]' 'providers = provider_sect' \
    '[provider_sect]' 'tokenkey = tokenkey_sect' '[tokenkey_sect]' \
    "pkcs11-module = $TOKENKEY_TEST_MODULE" 'x.activate = 0' 'soft_load = 1' 'pkcs11_module = /x' \
    > "$D/unknown-key.cnf"
OPENSSL_CONF="$D/unknown-key.cnf" tk_run 0 "an unknown key in the tokenkey section" tokens
tk_err "an unknown key in the tokenkey section: named, alone" \
    "tokenkey tokens: warning: OpenSSL configuration '$D/unknown-key.cnf', section [tokenkey_sect]: unknown key 'pkcs11_module', which tokenkey ignores (known: pkcs11-module, init-args, pin, debug, debug-file, session-key-copy)"
tk_run 1 "kafka-config: a key without a certificate" kafka-config --key b --ca "$D/refuse-ca.pem" \
    --out-dir "$D/k-b" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$PIN"
tk_if "kafka-config: a failed run leaves no empty --out-dir" ! -e "$D/k-b"
tk_run 2 "kafka-config: no --out-dir" kafka-config --key a --ca "$D/refuse-ca.pem"
tk_err "kafka-config: no --out-dir explained" "tokenkey kafka-config: --out-dir DIR is required"

# ---- delete ----
tk_run 2 "delete: a stray argument" delete --key b --yes extra --pin-file "$PIN"
tk_err "delete: a stray argument explained" "tokenkey delete: unexpected argument 4 after 'tokenkey delete' (not shown: it may be a PIN typed in the wrong place; see tokenkey delete --help)"
tk_run 2 "delete: --key without its value" delete --key --yes --pin-file "$PIN"
tk_err "delete: --key without its value explained" "tokenkey delete: option '--key' needs a value"
tk_run 2 "delete: an empty --key" delete --key= --yes --pin-file "$PIN"
tk_err "delete: an empty --key explained" "tokenkey delete: option '--key' needs a value"
tk_run 2 "delete: type=cert" delete --key "pkcs11:object=b;type=cert" --yes --pin-file "$PIN"
tk_err "delete: type=cert explained" \
    "tokenkey delete: the --key URI names a cert object: delete takes a key pair by its private key (type=private)"
for cmd in csr export doctor; do
    tk_run 2 "$cmd: type=public" "$cmd" --key "pkcs11:object=b;type=public" --pin-file "$PIN"
    tk_err "$cmd: type=public explained" \
        "tokenkey $cmd: the --key URI names a public object: $cmd takes a key pair by its private key (type=private)"
done
tk_run 2 "delete: object attributes in --token" delete --key b --token "pkcs11:object=a" --yes --pin-file "$PIN"
tk_err "delete: object attributes in --token explained" \
    "tokenkey delete: the --token URI names an object (object=): give the key with --key"
# A bare name is a label, even when a file of that name (a key reference) is here.
(cd "$D" && "$TK_CLI" export --key a --key-out b --pin-file "$PIN" > "$D/out" 2> "$D/err") \
    && ok "delete: a key reference named like key b" || not_ok "delete: export for the label test failed"
rc=0
(cd "$D" && "$TK_CLI" delete --key b --pin-file "$PIN" > "$D/out" 2> "$D/err") || rc=$?
# Without --yes: what would go, and exit 2 ("nothing deleted: add --yes").
if [ "$rc" -eq 2 ]; then ok "delete: label b without --yes: exit 2"; else not_ok "delete: label b without --yes: exit $rc, expected 2"; fi
tk_has "delete: 'b' is the label, not the file named b" "would delete $B" "$D/out"
tk_run 0 "list after the refused deletes" list --pin-file "$PIN"
tk_has "delete: the refused deletes deleted nothing" "private-key 'b' " "$D/out"
# Two private keys with one id: deleting one keeps the other, and its public key.
"$TK_STORE_MKOBJ" keygen ec shared-1 5a > "$D/mkobj.log" 2>&1 \
    && "$TK_STORE_MKOBJ" keygen ec shared-2 5a > "$D/mkobj.log" 2>&1 || { cat "$D/mkobj.log"; exit 1; }
tk_run 0 "delete: a key whose id another private key shares" delete --key shared-1 --yes --pin-file "$PIN"
tk_has "delete: the other private key is kept" "kept $(tk_uri shared-2 private %5A) (another private key with the same id)" "$D/out"
tk_has "delete: the other public key is kept" "kept $(tk_uri shared-2 public %5A) (the id is shared with another private key, and the label is not this key's)" "$D/out"
tk_has "delete: the named key is deleted" "deleted $(tk_uri shared-1 private %5A)" "$D/out"
tk_has "delete: its public key is deleted" "deleted $(tk_uri shared-1 public %5A)" "$D/out"
tk_err "delete: shared id warned about" \
    "tokenkey delete: warning: 1 other private key(s) share this key's id: only the objects labelled like this key were deleted"
tk_run 0 "list after deleting shared-1" list --pin-file "$PIN"
tk_has "delete: shared-2 is still on the token" "private-key 'shared-2' " "$D/out"
tk_has "delete: shared-2's public key too" "public-key 'shared-2' " "$D/out"
tk_hasnt "delete: shared-1 is gone" "private-key 'shared-1' " "$D/out"

# A certificate the token will not destroy: deletion stops there, the private key (deleted
# last) still on the token to find what is left by; exit 1, the token said no.
"$TK_STORE_MKOBJ" keygen ec fixed-k 7b > "$D/mkobj.log" 2>&1 \
    && "$TK_STORE_MKOBJ" cert-fixed fixed-k 7b "$D/a.pem" > "$D/mkobj.log" 2>&1 \
    || { cat "$D/mkobj.log"; exit 1; }
tk_run 1 "delete: a certificate the token will not destroy" delete --key fixed-k --yes --pin-file "$PIN"
tk_err "delete: the refusal explained" \
    "tokenkey delete: the token refused to delete $(tk_uri fixed-k cert %7B): CKR_ACTION_PROHIBITED (CKA_DESTROYABLE is false on it): the objects not listed as deleted, the private key among them, are still on the token; remove that one with the token's own tool if its policy allows"
tk_run 0 "list after the refused delete" list --pin-file "$PIN"
tk_has "delete refused: the private key is still there" "private-key 'fixed-k' " "$D/out"
tk_has "delete refused: the certificate too" "certificate 'fixed-k' " "$D/out"

# ---- list: every object, and JSON that parses whatever the labels ----
"$TK_STORE_MKOBJ" data many 300 > "$D/mkobj.log" 2>&1 \
    && "$TK_STORE_MKOBJ" data "$(printf 'bad\377')" 1 > "$D/mkobj.log" 2>&1 \
    || { cat "$D/mkobj.log"; exit 1; }
"$TK_STORE_MKOBJ" data "$(printf 'evil\n\033[2J\302\233')" 1 > "$D/mkobj.log" 2>&1 \
    || { cat "$D/mkobj.log"; exit 1; }
tk_run 0 "list: more than 256 objects" list --pin-file "$PIN"
# Another tool's label cannot split a line or reach the terminal as an escape sequence.
tk_has "list: control characters in a label escaped" "data 'evil\x0a\x1b[2J\xc2\x9b-0'" "$D/out"
tk_has "list: a byte that is not UTF-8 escaped" "data 'bad\xff-0'" "$D/out"
n=$(grep -c "^data 'many-" "$D/out")
if [ "$n" -eq 300 ]; then ok "list shows all 300 data objects"; else not_ok "list shows $n of 300 data objects"; fi
tk_run 0 "list --json with a label that is not UTF-8" list --json --pin-file "$PIN"
if python3 -c '
import json, sys
objs = json.load(open(sys.argv[1], encoding="utf-8"))
labels = [o["label"] for o in objs]
assert sum(1 for l in labels if l.startswith("many-")) == 300, "not 300 data objects"
assert "bad\ufffd-0" in labels, "no bad\\ufffd-0 label"
' "$D/out" 2> "$D/json.err"; then
    ok "list --json parses, all 300 objects, the bad byte as U+FFFD"
else
    not_ok "list --json: $(tail -1 "$D/json.err")"
fi

"$TK_STORE_MKOBJ" keygen ec "$(printf 'title\033]0;x\007')" 7e > "$D/mkobj.log" 2>&1 \
    || { cat "$D/mkobj.log"; exit 1; }
tk_run 0 "inspect: a key another tool labelled with control characters" inspect \
    "pkcs11:token=$TOK;id=%7E;type=private" --pin-file "$PIN"
tk_line "inspect: its label escaped" "label:         title\x1b]0;x\x07" "$D/out"

# ---- the command line never echoes a PIN given by mistake ----
tk_run 2 "a single-dash -pin=" list -pin=56785678
tk_err "a single-dash -pin= explained" "tokenkey list: unknown option '-pin': options start with -- (see tokenkey list --help)"
tk_run 2 "a stray URI with pin-value" list "pkcs11:token=x?pin-value=56785678"
tk_hasnt "a stray URI with pin-value: not echoed" "56785678" "$D/err"

tk_finish
