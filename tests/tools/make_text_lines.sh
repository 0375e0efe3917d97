#!/bin/bash
# make_text_lines.sh OUT.rgb N - renders N text lines (seeded words and
# numbers, DejaVu Sans, black on white) as 320x48 RGB images, one after
# another in OUT.rgb, and their texts in OUT.rgb.txt: real inputs for a
# text-line recognizer such as PP-OCRv4 rec (docs/tune.md). Needs
# ImageMagick (Debian's imagemagick) and fonts-dejavu-core.
set -euo pipefail
out=$1 n=$2
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
words=(model weight tensor shape grid level rate bits entropy code table gather cast float
	  prior train signal noise image text line reader paper value range window binade)
: > "$out"; : > "$out.txt"
seed=7
next() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); r=$(( seed / 65536 )); }
for ((i = 0; i < n; i++)); do
	next; a=${words[$(( r % ${#words[@]} ))]}
	next; b=$(( r % 1000 ))
	next; c=${words[$(( r % ${#words[@]} ))]}
	text="$a $b $c"
	echo "$text" >> "$out.txt"
	convert -size 320x48 xc:white -font "$font" -pointsize 26 -fill black \
		-annotate +6+34 "$text" -depth 8 rgb:- >> "$out"
done
