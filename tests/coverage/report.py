#!/usr/bin/env python3
"""Summarise gcov's counts for provider/ and tools/ (tests/coverage/coverage.sh).

usage: report.py BUILDDIR SOURCEDIR

A source compiled into several binaries (tools/subject.c in the CLI and in
its unit test, provider code in the fuzz replayers) has a .gcda per binary;
a line counts as covered when any of them ran it. gcov's JSON names a
source relative to the build directory (or by an absolute path spelt with
../ up to /): both are mapped back to the source tree.
"""
import collections
import json
import os
import subprocess
import sys


def source_path(name, build, src):
    path = os.path.normpath(os.path.join(build, name))
    return os.path.relpath(path, src) if path.startswith(src + os.sep) else None


def main():
    build, src = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    lines = collections.defaultdict(dict)
    funcs = collections.defaultdict(dict)
    for root, _, files in os.walk(build):
        for gcda in (os.path.join(root, f) for f in files if f.endswith('.gcda')):
            out = subprocess.run(['gcov', '--json-format', '--stdout', '-o', root, gcda],
                                 capture_output=True, cwd=build, check=False)
            for chunk in out.stdout.decode().splitlines():
                if not chunk.strip():
                    continue
                for f in json.loads(chunk)['files']:
                    rel = source_path(f['file'], build, src)
                    if rel is None or not rel.startswith(('provider/', 'tools/')):
                        continue
                    for ln in f['lines']:
                        n = ln['line_number']
                        lines[rel][n] = max(lines[rel].get(n, 0), ln['count'])
                    for fn in f['functions']:
                        key = (fn['start_line'], fn['name'])
                        funcs[rel][key] = max(funcs[rel].get(key, 0), fn['execution_count'])
    if not lines:
        sys.exit('report.py: no coverage data (a gcc build set up with -Db_coverage=true is needed: '
                 'gcov reads only gcc\'s counts)')
    total = covered = 0
    rows = []
    for rel, counts in lines.items():
        hit = sum(1 for c in counts.values() if c > 0)
        total, covered = total + len(counts), covered + hit
        rows.append((hit / len(counts), rel, hit, len(counts)))
    for share, rel, hit, n in sorted(rows):
        print(f'{100 * share:5.1f}% {hit:5d}/{n:<5d} {rel}')
    print(f'total {100 * covered / total:.1f}% {covered}/{total} lines')
    print('\nfunctions no test called:')
    for rel in sorted(funcs):
        for (line, name), count in sorted(funcs[rel].items()):
            if count == 0:
                print(f'  {rel}:{line} {name}')
    with open(os.path.join(build, 'coverage-lines.json'), 'w') as out:
        json.dump(lines, out)


if __name__ == '__main__':
    main()
