#!/usr/bin/env bash
# hack/check-text.sh - fail when tracked files speak of how the project was developed instead of
# what it is: numbered work sessions, turns or issues, and bare issue references.
#
# Usage: hack/check-text.sh   (make text-check)
#   Greps every tracked text file (git ls-files; binary files and Cargo.lock skipped) and lists
#   each hit as file:line:text; exits 1 when there is any, 0 otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Extended regular expressions, one per kind of reference.
patterns=(
  '[Ss]es''sion[ _-]?[0-9]'                        # a numbered work session
  '\([Ss]es''sion'                                 # a parenthesised work session
  '[Ii]s''sue[ _-]?#?[0-9]'                        # a numbered issue
  '(^|[^[:alnum:]&/_#-])#[0-9]+([^[:alnum:]_]|$)'  # a bare #12 reference in prose
  '(^|[^[:alnum:]_])[Tt]u''rn[ _-]?[0-9]'          # a numbered turn
)
args=()
for p in "${patterns[@]}"; do args+=(-e "$p"); done

# git grep reads exactly the tracked files; -I skips binary ones.
if git grep -n -I -E "${args[@]}" -- . ':(exclude)Cargo.lock' ':(exclude)hack/check-text.sh'; then
  echo "text-check: development-process text above (file:line): say what the code or document is, not how it came to be" >&2
  exit 1
fi
echo "text-check: no development-process text in tracked files"
