#!/usr/bin/env bash
# Re-vendors the page's third-party assets from the npm registry at pinned versions. The
# binary serves these itself (no CDN: the page's CSP is default-src 'self'), so they are
# committed; run this only to change a version, then review the diff.
#   nhsuk-frontend (MIT): the NHS.UK design system's CSS and JS. Its @font-face rules point at
#     assets.nhs.uk (Frutiger is licensed to NHS sites, not to us): they are removed, and the
#     font stack falls back to Arial as the NHS service manual allows. Icon URLs are rewritten
#     to the node's own /find/assets/ path.
#   axe-core (MPL-2.0): accessibility checks, used only by the browser tests.
set -euo pipefail
NHSUK=10.6.1
AXE=4.14.1
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "nhsuk-frontend@$NHSUK" "axe-core@$AXE" >/dev/null
mkdir nhsuk axe
tar xzf "nhsuk-frontend-$NHSUK.tgz" -C nhsuk
tar xzf "axe-core-$AXE.tgz" -C axe
dist=nhsuk/package/dist/nhsuk
python3 - "$dist/nhsuk-frontend-$NHSUK.min.css" "$here/assets/nhsuk-frontend.min.css" <<'PY'
import re, sys
css = open(sys.argv[1]).read()
css = re.sub(r"@font-face\{[^}]*\}", "", css)
css = css.replace("url(/assets/images/", "url(/find/assets/images/")
css = re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", css)
assert "https://" not in css, "an external URL is left in the CSS"
open(sys.argv[2], "w").write(css)
PY
# An ES module (it ends in `export {…}`): the page loads it with type="module".
grep -v '^//# sourceMappingURL=' "$dist/nhsuk-frontend-$NHSUK.min.js" >"$here/assets/nhsuk-frontend.min.js"
mkdir -p "$here/assets/images"
for icon in $(grep -o 'images/[a-z0-9-]*\.svg' "$here/assets/nhsuk-frontend.min.css" | sort -u); do
    cp "$dist/assets/$icon" "$here/assets/$icon"
done
cp "$dist/assets/images/favicon.svg" "$here/assets/images/favicon.svg"
printf 'nhsuk-frontend %s, MIT licence (package.json "license": "MIT"), (c) NHS England.\nhttps://github.com/nhsuk/nhsuk-frontend/blob/main/LICENSE.md\n' "$NHSUK" >"$here/assets/NHSUK-LICENSE"
cp axe/package/axe.min.js "$here/tests/axe.min.js"
cp axe/package/LICENSE "$here/tests/AXE-LICENSE"
echo "vendored nhsuk-frontend $NHSUK and axe-core $AXE"
