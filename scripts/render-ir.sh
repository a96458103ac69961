#!/usr/bin/env bash
# Draws the IR of docs/ir-picture.xf (a MoE block and a Mixture-of-Depths
# block) with Graphviz: xfc --dump-dot, routing ops coloured, then dot.
# Writes docs/ir.svg (the README shows it), or OUT_DIR/ir.svg when given.
#   scripts/render-ir.sh [XFC] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
xfc=${1:-$root/build/xfc}
out=${2:-$root/docs}
model=$root/docs/ir-picture.xf
command -v dot > /dev/null || { echo "render-ir.sh: Graphviz's dot is missing (apt-get install graphviz)" >&2; exit 1; }
if [ ! -x "$xfc" ]; then
    cmake -S "$root" -B "$root/build" -DXF_TESTS=OFF > /dev/null
    cmake --build "$root/build" -j2 --target xfc
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$xfc" "$model" --dump-dot "$tmp/ir.dot"
# colour the nodes by what they do: MoE routing, MoD routing, attention
gvpr -c '
N {
  style = "filled,rounded";
  fillcolor = "#f4f4f4";
  if (match(label, " moe_") >= 0 || match(label, " grouped_linear") >= 0) fillcolor = "#ffd9a8";
  if (match(label, " mod_") >= 0 || match(label, " gather") >= 0) fillcolor = "#b9e3c6";
  if (match(label, " attention") >= 0 || match(label, " rope") >= 0) fillcolor = "#c9dcf5";
}' "$tmp/ir.dot" > "$tmp/ir-coloured.dot"
dot -Tsvg -Gfontname=Helvetica -Glabeljust=l -Nfontsize=10 -Gfontsize=12 \
    -Glabel="xfc docs/ir-picture.xf --dump-dot  (orange: MoE, green: MoD routing, blue: attention)" \
    "$tmp/ir-coloured.dot" -o "$tmp/ir.svg"
mkdir -p "$out"
mv "$tmp/ir.svg" "$out/ir.svg"
echo "wrote $out/ir.svg"
