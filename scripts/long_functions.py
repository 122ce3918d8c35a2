#!/usr/bin/env python3
"""Lists functions longer than a limit (default 80 lines) in C++ sources.

A function starts at a line at indentation 0-2 with a name and '(' (its signature, possibly over a
few lines up to the opening brace; not a namespace, class, struct, enum or declaration) and ends at
the next closing brace at the same indentation. Heuristic, but enough to find the long ones.

    scripts/long_functions.py [--limit 80] [paths...]   (default paths: src cli)
"""
import argparse
import os
import re
import sys

SKIP = re.compile(r'^\s*(namespace|class|struct|enum|union|extern)\b|=\s*\{?$')


def functions(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = f.read().split('\n')
    start = re.compile(r'^( {0,2})[A-Za-z_~].*\(')
    i = 0
    while i < len(lines):
        m = start.match(lines[i])
        if m and not SKIP.search(lines[i]) and not lines[i].rstrip().endswith(';'):
            indent = m.group(1)
            # the signature may span a few lines up to the opening brace
            k = i
            while k < len(lines) and k < i + 6 and not lines[k].rstrip().endswith(('{', ';', '}')):
                k += 1
            if k < len(lines) and lines[k].rstrip().endswith('{'):
                close = re.compile(r'^' + indent + r'\}')
                end = k + 1
                while end < len(lines) and not close.match(lines[end]):
                    end += 1
                name = re.sub(r'\s*\(.*', '', lines[i].strip()).split()[-1]
                yield name, i + 1, end - i + 1
                i = end
        i += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--limit', type=int, default=80)
    ap.add_argument('paths', nargs='*', default=['src', 'cli'])
    a = ap.parse_args()
    found = []
    for root in a.paths:
        walk = [(root, [], [root])] if os.path.isfile(root) else os.walk(root)
        for d, _, files in walk:
            for fn in files:
                p = fn if os.path.isfile(root) else os.path.join(d, fn)
                if p.endswith(('.cpp', '.h')):
                    for name, line, n in functions(p):
                        if n > a.limit:
                            found.append((n, p, line, name))
    for n, p, line, name in sorted(found, reverse=True):
        print(f'{n:5d}  {p}:{line}  {name}')
    print(f'{len(found)} functions over {a.limit} lines', file=sys.stderr)


if __name__ == '__main__':
    main()
