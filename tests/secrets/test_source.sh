#!/bin/sh
# source_check.py over the tree (meson runs this: a shell, so that under
# 'meson test --setup valgrind' CPython is not the process judged).
python3 "${TK_SOURCE_DIR:?run with meson test}/tests/secrets/source_check.py" "$TK_SOURCE_DIR"
