#!/bin/sh
# test_forest_cli.sh - `mlfs forest` end to end: train, predict, eval, info,
# and exit status 2 with a message (never a crash) for every kind of bad
# input.  Usage: test_forest_cli.sh MLFS DATA_DIR
set -u
MLFS=$1
DATA=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; fails=$((fails + 1)); }

# expect_status WANT NAME CMD... : run, check the status, a message on
# stderr for failures, and no sanitizer report.
expect_status() {
	want=$1 name=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if grep -q -e "Sanitizer" -e "runtime error" "$T/err"; then
		bad "$name: sanitizer report"; cat "$T/err"; return
	fi
	if [ "$got" -ne "$want" ]; then
		bad "$name: exit $got, want $want"; cat "$T/err"; return
	fi
	if [ "$want" -ne 0 ] && ! [ -s "$T/err" ]; then
		bad "$name: no message on stderr"; return
	fi
	ok "$name"
}

head -n 1201 "$DATA/mlc_churn.csv" >"$T/train.csv"
{ head -n 1 "$DATA/mlc_churn.csv"; sed -n '1202,1401p' "$DATA/mlc_churn.csv"; } >"$T/test.csv"

expect_status 0 "train" "$MLFS" forest train --data "$T/train.csv" --label churn \
	--param n_estimators=10 --param seed=3 --param oob_score=true --model "$T/m"
grep -q '^trees 10$' "$T/out" || bad "train reports 10 trees"
grep -q '^oob_score 0\.' "$T/out" || bad "train reports oob_score"

expect_status 0 "predict" "$MLFS" forest predict --model "$T/m" --data "$T/test.csv"
[ "$(wc -l <"$T/out")" -eq 201 ] || bad "predict: header + one line per row"
[ "$(head -n 1 "$T/out")" = "prediction" ] || bad "predict: header"
sed -n '2,$p' "$T/out" | grep -v -x -e yes -e no && bad "predict: class names only"

expect_status 0 "predict --proba" "$MLFS" forest predict --model "$T/m" --data "$T/test.csv" --proba --threads 2
[ "$(head -n 1 "$T/out")" = "prediction,proba_no,proba_yes" ] || bad "proba header"
[ "$(wc -l <"$T/out")" -eq 201 ] || bad "proba: one line per row"

expect_status 0 "eval" "$MLFS" forest eval --model "$T/m" --data "$T/test.csv" --label churn
for k in rows accuracy precision recall f1 roc_auc log_loss; do
	grep -q "^$k " "$T/out" || bad "eval prints $k"
done

expect_status 0 "info" "$MLFS" forest info --model "$T/m"
grep -q '^trees 10$' "$T/out" || bad "info: trees"
grep -q '^importance ' "$T/out" || bad "info: importances"

# Bad input: exit 2 and a message.
expect_status 2 "label column missing" "$MLFS" forest train --data "$T/train.csv" --label nope --model "$T/x"
grep -q "nope" "$T/err" || bad "message names the label"
expect_status 2 "unknown parameter" "$MLFS" forest train --data "$T/train.csv" --label churn --param foo=1 --model "$T/x"
expect_status 2 "value out of range" "$MLFS" forest train --data "$T/train.csv" --label churn --param n_estimators=0 --model "$T/x"
expect_status 2 "fraction out of range" "$MLFS" forest train --data "$T/train.csv" --label churn --param max_features=1.5 --model "$T/x"
expect_status 2 "param without =" "$MLFS" forest train --data "$T/train.csv" --label churn --param seed --model "$T/x"
: >"$T/empty.csv"
expect_status 2 "empty training file" "$MLFS" forest train --data "$T/empty.csv" --label churn --model "$T/x"
expect_status 2 "empty predict file" "$MLFS" forest predict --model "$T/m" --data "$T/empty.csv"
expect_status 2 "missing data file" "$MLFS" forest predict --model "$T/m" --data "$T/none.csv"
awk -F, 'BEGIN { OFS = "," } NR == 3 { $2 = "abc" } { print }' "$T/test.csv" >"$T/text.csv"
expect_status 2 "string in a numeric column" "$MLFS" forest predict --model "$T/m" --data "$T/text.csv"
grep -q "account_length" "$T/err" || bad "message names the column"
head -c 300 "$T/m" >"$T/trunc"
expect_status 2 "truncated model" "$MLFS" forest predict --model "$T/trunc" --data "$T/test.csv"
expect_status 2 "foreign model" "$MLFS" forest info --model "$T/test.csv"
expect_status 2 "empty model" "$MLFS" forest eval --model "$T/empty.csv" --data "$T/test.csv" --label churn
expect_status 2 "eval label missing" "$MLFS" forest eval --model "$T/m" --data "$T/test.csv" --label nope
expect_status 2 "no --model" "$MLFS" forest predict --data "$T/test.csv"
expect_status 2 "unknown option" "$MLFS" forest predict --model "$T/m" --data "$T/test.csv" --frobnicate
expect_status 2 "unknown command" "$MLFS" forest frobnicate
expect_status 2 "ragged csv" sh -c "printf 'a,b\n1,2\n3\n' >'$T/r.csv'; '$MLFS' forest train --data '$T/r.csv' --label b --model '$T/x'"

if [ "$fails" -ne 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
exit 0
