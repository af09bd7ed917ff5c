#!/usr/bin/env bash
# Put MathJax 3 (from the npm registry) under _vendor/_static/mathjax, so the book renders its math
# offline too. The built pages load it from there (_config.yml: mathjax_path).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=_vendor/_static/mathjax
[ -f "$dest/tex-chtml-full.js" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent mathjax@3.2.2 >/dev/null)
tar xzf "$tmp"/mathjax-3.2.2.tgz -C "$tmp"
mkdir -p "$dest/output/chtml"
cp "$tmp/package/es5/tex-chtml-full.js" "$dest/"
cp -r "$tmp/package/es5/output/chtml/fonts" "$dest/output/chtml/"
cp "$tmp/package/LICENSE" "$dest/"
echo "MathJax 3.2.2 in $dest"
