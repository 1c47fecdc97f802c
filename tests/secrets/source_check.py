#!/usr/bin/env python3
"""One PKCS#11 layer: no file of provider/ or tools/ outside provider/p11/
calls a C_* function or holds a PKCS#11 function list.

usage: source_check.py SOURCE_ROOT

docs/design.md promises that nothing outside provider/p11/ calls into the
module: that is what makes the non-export guarantee checkable (the layer's
C_GetAttributeValue refuses secret attributes before asking the token;
test_secrets.sh shows at run time that no request for them reaches it).
Comments and string literals are removed first, so a message that names
C_GetFunctionList is not a finding. softhsm-conf/ and tests/ are not
scanned: test modules and fixtures talk PKCS#11 on purpose.
Exit status 1 with one line per finding; 0 with a summary.
"""
import os
import re
import sys

SCANNED = ['provider', 'tools']
LAYER = os.path.join('provider', 'p11')
FORBIDDEN = [
    (re.compile(r'->\s*C_[A-Z]\w*'), 'calls a PKCS#11 function through a function list'),
    (re.compile(r'\bC_(GetFunctionList|GetInterface)\b'), 'gets a PKCS#11 function list'),
    (re.compile(r'\bCK_(FUNCTION_LIST|INTERFACE)\w*'), 'holds a PKCS#11 function list'),
    (re.compile(r'(?<![\w>.])C_[A-Z][A-Za-z]+\s*\('), 'calls a C_* function directly'),
]
# Comments, then string and character literals (C syntax).
CODE_NOISE = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def blank(match):
    # Keep the newlines so line numbers stay right.
    return re.sub(r'[^\n]', ' ', match.group(0))


def main(root):
    findings, files, layer_hits = [], 0, 0
    for top in SCANNED:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith(('.c', '.h')):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, errors='replace') as f:
                    code = CODE_NOISE.sub(blank, f.read())
                in_layer = rel.startswith(LAYER + os.sep)
                files += 1
                for pattern, what in FORBIDDEN:
                    for m in pattern.finditer(code):
                        if in_layer:
                            layer_hits += 1
                            continue
                        line = code.count('\n', 0, m.start()) + 1
                        findings.append(f'{rel}:{line}: {what}: {m.group(0).strip()}')
    for f in findings:
        print(f)
    # The scan must see the layer's own calls, or it proves nothing.
    if layer_hits < 20:
        print(f'only {layer_hits} PKCS#11 calls found in {LAYER}: the scan is broken')
        return 1
    if findings:
        print(f'{len(findings)} findings: only {LAYER}/ may talk to the PKCS#11 module')
        return 1
    print(f'{files} files scanned: PKCS#11 calls only in {LAYER}/ ({layer_hits} there)')
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
