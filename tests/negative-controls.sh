#!/usr/bin/env bash
# Negative controls for the timing tests: each one plants a known protocol bug in a
# scratch copy of vrrpd, builds it, and runs the tests that must catch that bug against
# it (VRRPD_LAB_BINARY). A control passes when every one of its tests FAILS; a test that
# passes against a planted bug cannot tell the right timer from the wrong one.
#
#   sudo bash tests/negative-controls.sh [CONTROL...]     (default: all of them)
#
# The bugs (RFC 3768 / RFC 5798 §6.4.2 and §6.4.3 say what is right):
#   ignore-priority-zero  a backup treats a priority-0 advert like any lower priority
#                         (waits out Master_Down_Interval instead of Skew_Time)
#   double-master-down    Master_Down_Interval twice the RFC's
#   preempt-at-once       a backup preempts on the first lower-priority advert it hears
#                         instead of letting its Master_Down_Timer run out
#   no-resignation        a master that stops sends no priority-0 advert
#   master-ignores-higher-priority
#                         a master hearing a higher priority keeps serving (§6.4.3 says
#                         it becomes backup); only the equal-priority tie-break is left
#
# Each planted change is a text substitution checked to have applied (the script stops if
# the source moved and it no longer does). The scratch tree is `git archive HEAD` plus the
# working tree's changes to src/ (so an uncommitted fix is tested too), in
# target/negative-controls/, built with its own target directory there (incremental
# across controls). Needs root and the netns tests' tools, like the suites it runs.
# Prints one line per test and a summary; exits 0 only if every control was caught.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
scratch=$repo/target/negative-controls
all_controls=(ignore-priority-zero double-master-down preempt-at-once no-resignation
    master-ignores-higher-priority)
controls=("$@")
[ ${#controls[@]} -eq 0 ] && controls=("${all_controls[@]}")

if [ "$(id -u)" -ne 0 ]; then
    echo "negative-controls: must run as root (the netns suites need it)" >&2
    exit 2
fi

# The tests each control must fail: "TEST_BINARY FILTER" pairs, one test each (the filter
# is passed with --exact).
tests_for() {
    case $1 in
        ignore-priority-zero)  # vrrpd as the backup that hears the resignation
            echo "netns_failover v3_100ms::master_sigterm_backup_takes_over_within_skew_time_and_vip_removed"
            echo "netns_failover v3_10ms::master_sigterm_backup_takes_over_within_skew_time_and_vip_removed"
            echo "netns_failover v3_100ms::returning_node_without_preempt_leaves_vip_where_it_is"
            echo "netns_interop v3_10ms_keepalived_master_vrrpd_backup"
            echo "netns_ipv6 v6_keepalived_master_vrrpd_backup"
            echo "netns_health interface_tracking_faults_and_recovers"
            echo "netns_sync_group cutting_the_internal_link_moves_both_addresses_vrrpd_pair"
            ;;
        no-resignation)  # vrrpd as the master that leaves
            echo "netns_failover v3_100ms::master_sigterm_backup_takes_over_within_skew_time_and_vip_removed"
            echo "netns_failover v3_10ms::master_sigterm_backup_takes_over_within_skew_time_and_vip_removed"
            echo "netns_interop v3_10ms_vrrpd_master_keepalived_backup"
            echo "netns_ipv6 v6_vrrpd_master_keepalived_backup"
            echo "netns_health interface_tracking_faults_and_recovers"
            ;;
        double-master-down)  # vrrpd as the backup whose master falls silent, or returns
            echo "netns_failover v3_100ms::master_link_cut_backup_takes_over_within_master_down_interval"
            echo "netns_failover v3_10ms::master_sigkill_backup_takes_over_within_master_down_interval"
            echo "netns_failover v3_100ms::master_sigkill_backup_takes_over_within_master_down_interval"
            echo "netns_interop v3_10ms_keepalived_master_vrrpd_backup"
            echo "netns_interop v3_10ms_vrrpd_master_keepalived_backup"
            echo "netns_ipv6 v6_vrrpd_pair_wire_format_neighbour_advertisements_and_ping6_through_failover"
            ;;
        master-ignores-higher-priority)  # the split brain that heals
            echo "netns_failover v3_100ms::split_brain_heals_with_one_master_and_the_client_on_it"
            echo "netns_failover v3_10ms::split_brain_heals_with_one_master_and_the_client_on_it"
            ;;
        preempt-at-once)
            echo "netns_failover v3_100ms::returning_higher_priority_node_preempts"
            echo "netns_failover v3_10ms::returning_higher_priority_node_preempts"
            echo "netns_failover v2_pass_1s::returning_higher_priority_node_preempts"
            ;;
        *) return 1 ;;
    esac
}

# plant CONTROL: edit the scratch tree's source; fails if the substitution did not apply.
plant() {
    local file pattern replacement
    case $1 in
        ignore-priority-zero)
            file=src/core/state.rs
            pattern='if advert\.priority == RESIGN_PRIORITY \{'
            replacement='if false \&\& advert.priority == RESIGN_PRIORITY {'
            ;;
        double-master-down)
            file=src/core/state.rs
            pattern='CENTISECOND \* 3 \* u32::from\(interval_cs\) \+ skew_time\(version, priority, interval_cs\)$'
            replacement='(CENTISECOND * 3 * u32::from(interval_cs) + skew_time(version, priority, interval_cs)) * 2'
            ;;
        preempt-at-once)
            file=src/core/state.rs
            pattern='// Otherwise discard: the Master_Down_Timer keeps running and we preempt when it fires\.'
            replacement='if !accepted { backup.master_down_at = now; }'
            ;;
        no-resignation)
            file=src/core/state.rs
            pattern='self\.send_advertisement\(RESIGN_PRIORITY, actions\);'
            replacement='let _ = actions;'
            ;;
        master-ignores-higher-priority)
            file=src/core/state.rs
            pattern='let they_win = advert\.priority > ours'
            replacement='let they_win = false \&\& advert.priority > ours'
            ;;
        *) echo "negative-controls: unknown control $1" >&2; return 1 ;;
    esac
    local before after
    before=$(md5sum "$scratch/src/$file" | cut -d' ' -f1)
    perl -0pi -e "s#$pattern#$replacement#m" "$scratch/src/$file"
    after=$(md5sum "$scratch/src/$file" | cut -d' ' -f1)
    if [ "$before" = "$after" ]; then
        echo "negative-controls: $1 did not apply to $file (the source moved): update the pattern" >&2
        return 1
    fi
}

fresh_tree() {
    rm -rf "$scratch/src"
    mkdir -p "$scratch/src"
    git archive HEAD | tar -x -C "$scratch/src"
    # Uncommitted changes to the daemon's source come along.
    git diff HEAD -- src | (cd "$scratch/src" && git apply --allow-empty 2>/dev/null || patch -p1 -s)
}

caught=0
missed=0
broken=0
summary=()
for control in "${controls[@]}"; do
    if ! tests_for "$control" >/dev/null; then
        echo "negative-controls: unknown control $control (known: ${all_controls[*]})" >&2
        exit 2
    fi
    fresh_tree
    if ! plant "$control"; then
        broken=$((broken + 1))
        summary+=("$control: NOT PLANTED")
        continue
    fi
    echo "==> $control: building the planted vrrpd"
    if ! (cd "$scratch/src" && CARGO_TARGET_DIR=$scratch/target cargo build -q --bin vrrpd); then
        broken=$((broken + 1))
        summary+=("$control: BUILD FAILED")
        continue
    fi
    planted=$scratch/target/debug/vrrpd
    control_missed=0
    while read -r binary filter; do
        log=$scratch/$control-$binary-${filter//:/_}.log
        VRRPD_LAB_BINARY=$planted cargo test -q --test "$binary" -- --exact "$filter" \
            >"$log" 2>&1
        status=$?
        if grep -q "^test result: .* 0 passed; 0 failed" "$log" || ! grep -q "^test result" "$log"; then
            echo "    $binary $filter: DID NOT RUN (see $log)"
            control_missed=$((control_missed + 1))
        elif [ $status -ne 0 ]; then
            reason=$(grep -m1 -A1 "panicked at" "$log" | tail -1 | cut -c1-160)
            echo "    $binary $filter: failed, as it must: $reason"
        else
            echo "    $binary $filter: PASSED against the planted bug"
            control_missed=$((control_missed + 1))
        fi
    done < <(tests_for "$control")
    if [ $control_missed -eq 0 ]; then
        caught=$((caught + 1))
        summary+=("$control: caught by every test")
    else
        missed=$((missed + 1))
        summary+=("$control: $control_missed test(s) did not catch it")
    fi
done
echo
printf '%s\n' "${summary[@]}"
echo "negative controls: $caught caught, $missed missed, $broken not run"
[ $missed -eq 0 ] && [ $broken -eq 0 ]
