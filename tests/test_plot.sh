#!/usr/bin/env bash
# `iopo plot` on hand-written metrics.jsonl files (no training): two runs with NaN / inf values, missing keys and eval
# records give a well-formed SVG with the expected panels, lines, eval markers and legend, byte-identical when made
# again; --metrics, --labels, --title and run directories as arguments; bad input gives one-line errors naming
# file:line, a non-zero exit, and leaves an existing chart untouched.
# Usage: test_plot.sh IOPO WORK_DIR
set -u
iopo=$1 work=$2
rm -rf "$work" && mkdir -p "$work/runA" "$work/runB" && cd "$work" || exit 1
. "$(dirname "$0")/checks.sh"

# runA (SFT-like): step 3's loss is NaN (Python's spelling), step 4's lr is null (what iopo train writes for a
# non-finite value), step 5's lr is printf's -nan, eval loss at steps 3 and 5, a blank line. runB (DPO-like):
# rewards/margins missing at step 2 and -Infinity at step 3, eval records at steps 2 and 4, the records out of step
# order; its last line lacks the newline (a cut-short write would be skipped).
cat >runA/metrics.jsonl <<'EOF'
{"step": 1, "loss": 4.5, "lr": 0.001, "grad_norm": 2.1}
{"step": 2, "loss": 3.9, "lr": 0.002, "note": "text, not a number: NaN"}
{"step": 3, "loss": NaN, "lr": 0.002, "eval_loss": 3.7}

{"step": 4, "loss": 3.1, "lr": null}
{"step": 5, "loss": 2.8, "lr": -nan, "eval_loss": 3.0}
EOF
printf '%s\n' '{"step": 1, "loss": 0.693, "rewards/accuracies": 0.5, "rewards/margins": 0.0}' \
  '{"step": 3, "loss": 0.55, "rewards/accuracies": 0.75, "rewards/margins": -Infinity}' \
  '{"step": 2, "loss": 0.62, "rewards/accuracies": 0.75, "eval_loss": 0.65, "eval_rewards/accuracies": 0.6}' >runB/metrics.jsonl
printf '%s' '{"step": 4, "loss": 0.41, "rewards/accuracies": 1, "rewards/margins": 0.8, "eval_loss": 0.5, "eval_rewards/accuracies": 0.9}' \
  >>runB/metrics.jsonl

# What a chart holds, one line: panel titles; per panel its train lines' point counts and eval lines' point counts;
# eval markers; legend labels; the title. Fails (non-zero) when the file is not well-formed XML.
summary() {
  python3 - "$1" <<'PY'
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
def text(e): return "".join(n.data for n in e.childNodes if n.nodeType == n.TEXT_NODE)
out = []
for g in doc.getElementsByTagName("g"):
    if g.getAttribute("class") != "panel": continue
    title = text(g.getElementsByTagName("text")[0])
    lines = {"train": [], "eval": []}
    for p in g.getElementsByTagName("polyline"):
        lines[p.getAttribute("class")].append(str(len(p.getAttribute("points").split())))
    marks = sum(c.getAttribute("class") == "eval" for c in g.getElementsByTagName("circle"))
    out.append("%s[train %s; eval %s; markers %d]" % (title, ",".join(lines["train"]), ",".join(lines["eval"]), marks))
legend = [text(t) for t in doc.getElementsByTagName("text") if t.getAttribute("class") == "legend"]
top = [text(t) for t in doc.documentElement.childNodes if t.nodeType == t.ELEMENT_NODE and t.tagName == "text" and not t.getAttribute("class")]
print(" ".join(out), "| legend", ",".join(legend), "| title", top[0] if top else "-")
PY
}

"$iopo" plot runA/metrics.jsonl runB/metrics.jsonl --out two.svg 2>two.log
rc=$?
check "[ $rc -eq 0 ] && [ \"\$(cat two.log)\" = 'wrote two.svg (2 runs)' ]" "two runs: $(cat two.log)"
want='loss[train 4,4; eval 2,2; markers 4] rewards/accuracies[train 4; eval 2; markers 2] rewards/margins[train 2; eval ; markers 0] | legend runA,runB,train,eval | title -'
got=$(summary two.svg)
check "[ \"\$got\" = \"\$want\" ]" "two runs: panels, lines, markers, legend
    got:  $got
    want: $want"
check "grep -q '^<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\"' two.svg" "an SVG 1.1 root element"
check "! grep -qi 'nan\|inf' two.svg" "no non-finite coordinate in the chart"
cp two.svg two.first.svg
"$iopo" plot runA/metrics.jsonl runB/metrics.jsonl --out two.svg 2>/dev/null
check "cmp -s two.svg two.first.svg" "the same input gives the same bytes"
# The out-of-order records are sorted by step: runB's loss line falls monotonically in x.
check "python3 -c '
import sys, xml.dom.minidom
d = xml.dom.minidom.parse(\"two.svg\")
p = [q for q in d.getElementsByTagName(\"polyline\") if q.getAttribute(\"class\") == \"train\"][1]
xs = [float(v.split(\",\")[0]) for v in p.getAttribute(\"points\").split()]
sys.exit(xs != sorted(xs))'" "records out of order are drawn in step order"

# Run directories stand for their metrics.jsonl; chosen metrics, labels and a title (escaped).
"$iopo" plot runA runB/ --out dirs.svg 2>/dev/null
check "cmp -s dirs.svg two.first.svg" "run directories as arguments give the same chart"
"$iopo" plot runA/metrics.jsonl runB/metrics.jsonl --out pick.svg --metrics lr,eval_loss --labels 'sft <1>,dpo & co' \
  --title 'a <b> & "c"' 2>pick.log
rc=$?
check "[ $rc -eq 0 ]" "--metrics, --labels, --title: $(cat pick.log)"
want='lr[train 3; eval ; markers 0] eval_loss[train ; eval 2,2; markers 4] | legend sft <1>,dpo & co,train,eval | title a <b> & "c"'
got=$(summary pick.svg)
check "[ \"\$got\" = \"\$want\" ]" "--metrics lr,eval_loss with labels and title
    got:  $got
    want: $want"
cp -r runA again && mkdir -p other && cp -r runA other/
"$iopo" plot runA other/runA --out same.svg 2>/dev/null
check "[ \"\$(summary same.svg | sed 's/.*| legend \([^|]*\) |.*/\1/')\" = 'runA,runA (2),train,eval' ]" \
  "two run directories of the same name get labels of their own"

# Errors: one line naming the file (and line), a non-zero exit, and the chart already there left as it was.
printf '%s\n' '{"step": 1, "loss": 2}' '{"step": 2, "loss": ' '{"step": 3, "loss": 1}' >bad.jsonl
printf '%s\n' '{"step": 1, "loss": 2}' '[1, 2]' >array.jsonl
printf '%s\n' '{"loss": 2}' >nostep.jsonl
printf '%s\n' '{"step": 1, "loss": "high"}' '{"step": 2, "loss": NaN}' >nonum.jsonl
: >empty.jsonl
expect 1 "iopo plot: bad.jsonl:2: not a JSON object" -- "$iopo" plot runA/metrics.jsonl bad.jsonl --out two.svg
expect 1 "iopo plot: array.jsonl:2: not a JSON object" -- "$iopo" plot array.jsonl --out two.svg
expect 1 'iopo plot: nostep.jsonl:1: no numeric "step"' -- "$iopo" plot nostep.jsonl --out two.svg
expect 1 'iopo plot: nonum.jsonl: no numeric records (2 records, none with a finite value besides "step")' -- \
  "$iopo" plot nonum.jsonl --out two.svg
expect 1 'iopo plot: empty.jsonl: no numeric records (0 records, none with a finite value besides "step")' -- \
  "$iopo" plot empty.jsonl --out two.svg
expect 1 "iopo plot: missing.jsonl: No such file or directory" -- "$iopo" plot missing.jsonl --out two.svg
expect 1 "iopo plot: metric 'rewards/chosen' has no finite value in any of the files (keys: loss, lr, grad_norm, eval_loss, rewards/accuracies, rewards/margins, eval_rewards/accuracies)" -- \
  "$iopo" plot runA/metrics.jsonl runB/metrics.jsonl --out two.svg --metrics loss,rewards/chosen
printf '%s\n' '{"step": 1, "lr": 0.1}' >lronly.jsonl
expect 1 "iopo plot: lronly.jsonl: no loss or preference metric to plot by default (keys: lr)" -- \
  "$iopo" plot lronly.jsonl --out two.svg
expect 2 "iopo plot: --labels gives 1 label for 2 files" -- "$iopo" plot again other/runA --out two.svg --labels one
expect 2 "iopo plot: --metrics 'loss,': an empty name" -- "$iopo" plot again --out two.svg --metrics loss,
expect 2 "  --title T          a title above the chart" -- "$iopo" plot again
check "grep -q 'iopo plot: --out FILE.svg is required' err.txt" "no --out: says so"
expect 1 "iopo plot: nodir/x.svg: cannot create a temporary file beside it: No such file or directory" -- \
  "$iopo" plot again --out nodir/x.svg
check "cmp -s two.svg two.first.svg && [ -z \"\$(ls | grep '\.tmp\.')\" ]" \
  "failed commands left the existing chart untouched and no temporary file"

echo "plot: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
