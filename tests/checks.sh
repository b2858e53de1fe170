# Counters and helpers shared by the shell tests (sourced): `check 'CONDITION' 'MESSAGE'` evaluates CONDITION and
# records a pass, or prints "FAIL: MESSAGE"; each test ends by printing "NAME: N passed, M failed" and exiting
# non-zero if any failed.
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else fail "$2"; fi; }
