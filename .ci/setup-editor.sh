#!/usr/bin/env bash
# Installs the TextMate grammar test tools (vscode-tmgrammar-test, pinned in
# editors/vscode/package.json and package-lock.json) for tests/suite/editor_grammar.rs.
# Idempotent: does nothing when editors/vscode/node_modules exists; installs
# Node.js and npm from Debian's packages when npm is missing.
set -euo pipefail
cd "$(dirname "$0")/../editors/vscode"
if [ -d node_modules ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        # Debian's Node.js and npm (the grammar tool needs Node.js >= 18).
        (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null
    else
        echo "setup-editor: npm not found; install Node.js (>= 18) and npm" >&2
        exit 1
    fi
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
