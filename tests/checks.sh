# Counters and helpers shared by the shell tests (sourced): `check 'CONDITION' 'MESSAGE'` evaluates CONDITION and
# records a pass, or prints "FAIL: MESSAGE"; each test ends by printing "NAME: N passed, M failed" and exiting
# non-zero if any failed.
fails=0 passes=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { if eval "$1"; then ok; else fail "$2"; fi; }
# expect CODE MESSAGE -- command...: the command exits with CODE and its stderr's last line is exactly MESSAGE (run in
# the current directory: out.txt and err.txt hold its output).
expect() {
  local code=$1 want=$2
  shift 3
  "$@" >out.txt 2>err.txt
  local rc=$? got
  got=$(tail -n 1 err.txt)
  if [ "$rc" -ne "$code" ] || [ "$got" != "$want" ]; then
    fail "$* -> exit $rc (want $code)"
    echo "    got:  $got"
    echo "    want: $want"
  else
    ok
  fi
}
