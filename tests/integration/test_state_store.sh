#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# One state store per host: `hayate suppress add` run in another directory, without --db,
# writes the list that every campaign's run reads (whatever folder its job is in); check says
# which store a job uses; a suppression.db left beside a job from before keeps working, with a
# notice said once. HAYATE_STATE_DIR (set by lib.sh for every test) points the store here.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
hayate_test_init "$@"
hayate="$(realpath "$(require_bin hayate)")"
read -r port < <(free_port 1)
dir="${HAYATE_TEST_DIR}"
start_hayate_sink "${port}" --stats-file "${dir}/sink.json"
store="${HAYATE_STATE_DIR}/suppression.db"
campaign() {
  write_campaign "$1" "email,first_name
alice@example.test,Alice
bob@example.test,Bob" "[delivery]
retry_schedule = []
[routes]
\"*\" = \"127.0.0.1:${port}\""
}
campaign "${dir}/spring"
campaign "${dir}/autumn"

# The operator adds alice from another directory, with no option: the host's store.
mkdir -p "${dir}/elsewhere"
(cd "${dir}/elsewhere" && "${hayate}" suppress add alice@example.test) 2>"${dir}/add.err"
assert_eq "suppress add names the store" "hayate suppress: added 1 in ${store}" \
  "$(cat "${dir}/add.err")"
[[ ! -e "${dir}/elsewhere/suppression.db" ]] || fail "suppress add wrote ./suppression.db"
assert_eq "nothing in the current directory" yes yes
(cd "${dir}/elsewhere" && "${hayate}" suppress list) >"${dir}/list.out" 2>"${dir}/list.err"
assert_contains "suppress list names the store" "1 entry in ${store}" "$(cat "${dir}/list.err")"

# check says which store the job uses; both campaigns skip alice.
run_hayate check check "${dir}/spring/job.toml"
assert_contains "check names the state directory" \
  "state: ${HAYATE_STATE_DIR} (from HAYATE_STATE_DIR)" "$(cat "${dir}/check.out")"
assert_contains "check names the list" "suppression list: ${store}" "$(cat "${dir}/check.out")"
for name in spring autumn; do
  run_hayate "${name}" run "${dir}/${name}/job.toml" --out "${dir}/${name}/out"
  assert_eq "${name}: exit" 0 "${HAYATE_EXIT}"
  assert_eq "${name}: alice suppressed" 1 "$(json_get "${dir}/${name}/out/summary.json" suppressed)"
  assert_eq "${name}: bob delivered" 1 "$(json_get "${dir}/${name}/out/summary.json" delivered)"
  [[ ! -e "${dir}/${name}/suppression.db" ]] || fail "${name}: a list appeared beside the job"
  assert_eq "${name}: summary.json names the list" "${store}" \
    "$(json_get "${dir}/${name}/out/summary.json" suppression_list)"
done

# A list from before the state store, beside a job, is kept (it suppresses bob), and the
# notice comes once.
campaign "${dir}/old"
"${hayate}" suppress add bob@example.test --db "${dir}/old/suppression.db" 2>/dev/null
run_hayate old run "${dir}/old/job.toml" --out "${dir}/old/out"
assert_eq "old list: exit" 0 "${HAYATE_EXIT}"
assert_eq "old list: bob suppressed by it" 1 "$(json_get "${dir}/old/out/summary.json" suppressed)"
assert_eq "old list: alice is not on it" 1 "$(json_get "${dir}/old/out/summary.json" delivered)"
assert_contains "old list: the notice" "${dir}/old/suppression.db beside the job is used" \
  "$(cat "${dir}/old.err")"
run_hayate old-again run "${dir}/old/job.toml" --out "${dir}/old/out2"
assert_eq "old list again: exit" 0 "${HAYATE_EXIT}"
if grep -q "beside the job is used" "${dir}/old-again.err"; then
  fail "the notice about the old list came twice"
fi
assert_eq "the notice is said once" yes yes

# Without HAYATE_STATE_DIR, as root, the store is /var/lib/hayate (check only says so: it
# writes nothing there).
if [[ ${EUID} -eq 0 ]]; then
  out="$(env -u HAYATE_STATE_DIR "${hayate}" check "${dir}/spring/job.toml" 2>/dev/null || true)"
  assert_contains "root: /var/lib/hayate" "state: /var/lib/hayate (run as root)" "${out}"
else
  out="$(env -u HAYATE_STATE_DIR XDG_STATE_HOME="${dir}/xdg" \
    "${hayate}" check "${dir}/spring/job.toml" 2>/dev/null || true)"
  assert_contains "user: XDG_STATE_HOME" "state: ${dir}/xdg/hayate" "${out}"
fi
