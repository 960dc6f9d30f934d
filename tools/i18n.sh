#!/usr/bin/env bash
# Re-extract every user-visible string, merge it into each language's catalogue and compile the .mo files.
# Run after adding or changing strings; then translate the new (empty or fuzzy) entries and run it again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL=".venv/bin/pybabel"
LANGS=(en es de fr ar)
"$PYBABEL" extract -F babel.cfg -k _l -k t -k tn:1,2 -k lazy_gettext -k lazy_ngettext:1,2 \
  --no-wrap --sort-by-file --project Attune --copyright-holder Attune -o translations/messages.pot .
for lang in "${LANGS[@]}"; do
  po="translations/$lang/LC_MESSAGES/messages.po"
  if [[ -f "$po" ]]; then
    "$PYBABEL" update --no-wrap --ignore-obsolete --no-fuzzy-matching -i translations/messages.pot -d translations -l "$lang"
  else
    "$PYBABEL" init --no-wrap -i translations/messages.pot -d translations -l "$lang"
  fi
done
# English is the source language: its msgstr stays empty, so gettext returns the msgid.
"$PYBABEL" compile -d translations
