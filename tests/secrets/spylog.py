#!/usr/bin/env python3
"""Check pkcs11-spy logs for any request of private key material.

usage: spylog.py LOG...   (one log per process: object handles are per process)

OpenSC's pkcs11-spy sits between a program and the real module and logs
every call with its arguments. For each log this reads every call and
fails (exit 1, one line per finding) when:
  - C_GetAttributeValue asks for CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
    CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2 or CKA_COEFFICIENT (RSA
    private key material), of any object;
  - C_GetAttributeValue asks for CKA_VALUE of an object that is not known,
    from the same log, to be a certificate (CKA_VALUE is the private value
    of EC, EdDSA and secret keys);
  - C_WrapKey is called at all (the other way key material leaves a token);
  - a template makes a private key exportable: CKA_EXTRACTABLE true or
    CKA_SENSITIVE false in C_CopyObject, C_SetAttributeValue or a
    C_GenerateKeyPair private template, or a generated private key without
    both CKA_SENSITIVE=true and CKA_EXTRACTABLE=false.
An object's class comes from the log itself: C_GetAttributeValue answers
for CKA_CLASS, C_GenerateKeyPair's outputs, C_CreateObject templates, the
source of C_CopyObject, and the CKA_CLASS of the C_FindObjectsInit
template a C_FindObjects result matched.

It prints a summary line per log ("calls=N C_Sign=N ... cert_value_reads=N")
that the test uses to prove the logs covered what they should.
"""
import re
import sys

SECRET_ATTRS = {'CKA_PRIVATE_EXPONENT', 'CKA_PRIME_1', 'CKA_PRIME_2', 'CKA_EXPONENT_1',
                'CKA_EXPONENT_2', 'CKA_COEFFICIENT'}
COUNTED = ['C_Login', 'C_Sign', 'C_Decrypt', 'C_GenerateKeyPair', 'C_FindObjects',
           'C_GetAttributeValue', 'C_CopyObject', 'C_CreateObject']

CALL = re.compile(r'^\d+: (C_\w+)\s*$')
HANDLE = re.compile(r'^\[(in|out)\] \*?(h\w*|ph\w*) = (0x[0-9a-fA-F]+)')
TEMPLATE = re.compile(r'^\[(in|out)\] (\w+)\[\d+\]:')
ATTR = re.compile(r'^    (CKA_\w+)\s+(\S+)?')
MATCH = re.compile(r'^Object (0x[0-9a-fA-F]+) matches')


def calls(path):
    """Yield (function, lines) for each call in a spy log."""
    fn, lines = None, []
    with open(path, errors='replace') as f:
        for raw in f:
            line = raw.rstrip('\n')
            m = CALL.match(line)
            if m:
                if fn is not None:
                    yield fn, lines
                fn, lines = m.group(1), []
            elif fn is not None:
                lines.append(line)
    if fn is not None:
        yield fn, lines


def parse(lines):
    """A call's handles {name: value}, templates {(dir, name): [(attr, value)]}, matches."""
    handles, templates, matches, current = {}, {}, [], None
    for line in lines:
        m = HANDLE.match(line)
        if m:
            handles[m.group(2)] = int(m.group(3), 16)
            current = None
            continue
        m = TEMPLATE.match(line)
        if m:
            current = templates.setdefault((m.group(1), m.group(2)), [])
            continue
        m = ATTR.match(line)
        if m and current is not None:
            current.append((m.group(1), m.group(2) or ''))
            continue
        m = MATCH.match(line)
        if m:
            matches.append(int(m.group(1), 16))
            continue
        if line.startswith('[') or line.startswith('Returned'):
            current = None
    return handles, templates, matches


def value_of(template, attr):
    for a, v in template:
        if a == attr:
            return v
    return None


def check(path):
    findings = []
    classes = {}        # object handle -> CKO_...
    find_class = {}     # session -> CKA_CLASS of the active C_FindObjectsInit
    counts = dict.fromkeys(COUNTED, 0)
    total = cert_value_reads = 0
    for n, (fn, lines) in enumerate(calls(path), 1):
        total += 1
        if fn in counts:
            counts[fn] += 1
        handles, templates, matches = parse(lines)
        where = f'{path}: call {n} {fn}'
        session = handles.get('hSession')
        obj = handles.get('hObject')
        if fn == 'C_WrapKey':
            findings.append(f'{where}: C_WrapKey called')
        elif fn == 'C_GetAttributeValue':
            asked = [a for a, _ in templates.get(('in', 'pTemplate'), [])]
            for a, v in templates.get(('out', 'pTemplate'), []):
                if a == 'CKA_CLASS' and v.startswith('CKO_') and obj is not None:
                    classes[obj] = v
            for a in asked:
                if a in SECRET_ATTRS:
                    findings.append(f'{where}: asks object {obj:#x} for {a}')
                elif a == 'CKA_VALUE':
                    cls = classes.get(obj)
                    if cls == 'CKO_CERTIFICATE':
                        cert_value_reads += 1
                    else:
                        findings.append(f'{where}: asks object {obj:#x} ({cls or "class unknown"}) '
                                        'for CKA_VALUE')
        elif fn == 'C_GenerateKeyPair':
            if 'hPublicKey' in handles:
                classes[handles['hPublicKey']] = 'CKO_PUBLIC_KEY'
            if 'hPrivateKey' in handles:
                classes[handles['hPrivateKey']] = 'CKO_PRIVATE_KEY'
            priv = templates.get(('in', 'pPrivateKeyTemplate'), [])
            if value_of(priv, 'CKA_SENSITIVE') != 'True' or value_of(priv, 'CKA_EXTRACTABLE') != 'False':
                findings.append(f'{where}: private key generated without CKA_SENSITIVE=True and '
                                f'CKA_EXTRACTABLE=False ({priv})')
        elif fn in ('C_CopyObject', 'C_SetAttributeValue'):
            tmpl = templates.get(('in', 'pTemplate'), [])
            if value_of(tmpl, 'CKA_EXTRACTABLE') == 'True' or value_of(tmpl, 'CKA_SENSITIVE') == 'False':
                findings.append(f'{where}: makes object {obj:#x} exportable ({tmpl})')
            if fn == 'C_CopyObject':
                new = [v for k, v in handles.items() if k.startswith('ph')]
                for h in new:
                    if obj in classes:
                        classes[h] = classes[obj]
        elif fn == 'C_CreateObject':
            cls = value_of(templates.get(('in', 'pTemplate'), []), 'CKA_CLASS')
            for k, h in handles.items():
                if k.startswith('ph') and cls:
                    classes[h] = cls
        elif fn == 'C_FindObjectsInit':
            find_class[session] = value_of(templates.get(('in', 'pTemplate'), []), 'CKA_CLASS')
        elif fn == 'C_FindObjects':
            cls = find_class.get(session)
            if cls:
                for h in matches:
                    classes[h] = cls
    summary = ' '.join(f'{k}={v}' for k, v in counts.items())
    print(f'{path}: calls={total} {summary} cert_value_reads={cert_value_reads} '
          f'findings={len(findings)}')
    return findings


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    findings = []
    for p in paths:
        findings += check(p)
    for f in findings:
        print('FINDING: ' + f)
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
