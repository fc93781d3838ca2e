//! End-to-end tests against a real kube-apiserver + etcd (+ kube-controller-manager), the
//! embedded fake Clerk and the controller. One control plane serves every test; each test has
//! its own namespace, fake Clerk and controller. The chart's install and upgrade cases start
//! control planes of their own, where no CRD exists before the chart installs it.
#![warn(clippy::too_many_lines)]

mod admission;
mod basic;
mod children;
mod dns;
mod economy;
mod export;
mod fairness;
mod health;
mod helm;
mod instances;
mod leader;
mod lifecycle;
mod ownership;
mod robustness;
mod secret_modes;
mod status;
mod tenancy;

use admission::*;
use basic::*;
use children::*;
use dns::*;
use economy::*;
use export::*;
use fairness::*;
use health::*;
use helm::*;
use instances::*;
use leader::*;
use libtest_mimic::{Arguments, Trial};
use lifecycle::*;
use ownership::*;
use robustness::*;
use secret_modes::*;
use status::*;
use std::sync::Arc;
use tenancy::*;
use test_kit::*;

type TestFn = fn(Arc<ControlPlane>) -> Result<(), libtest_mimic::Failed>;

/// `(name, runner)` pairs from async scenario functions taking the shared control plane.
macro_rules! trials {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|cp| run_async($name(cp))) as TestFn)),*]
    };
}

fn main() {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(4);
    }
    let tests = all_trials();
    let all_filtered = tests
        .iter()
        .all(|(name, _)| args.is_filtered_out(&Trial::test(*name, || Ok(()))));
    if all_filtered || args.list {
        let trials = tests
            .into_iter()
            .map(|(name, _)| Trial::test(name, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    let cp = Arc::new(ControlPlane::start());
    cp.install_crds();
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let cp = cp.clone();
            Trial::test(name, move || f(cp))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(cp);
    conclusion.exit();
}

/// Every trial, in the order they run.
fn all_trials() -> Vec<(&'static str, TestFn)> {
    [
        loop_and_clerk_trials(),
        lifecycle_and_ownership_trials(),
        instances_and_chart_trials(),
    ]
    .concat()
}

/// The whole loop, Clerk robustness, DNS automation, readiness and the export.
fn loop_and_clerk_trials() -> Vec<(&'static str, TestFn)> {
    trials![
        // The whole loop.
        kubectl_apply_reaches_ready,
        spec_changes_are_patched,
        delete_removes_satellite,
        delete_when_already_gone,
        existing_name_is_not_adopted,
        primary_never_deleted,
        wrong_key,
        missing_secret,
        missing_secret_is_found_without_a_secret_watch,
        admission_rejects,
        admission_table,
        idle_object_is_quiet,
        new_object_is_reconciled_once,
        // Clerk robustness: faults, call budget, rate limits.
        converge_through_faults,
        call_budget,
        rate_limit_prevents_429,
        two_keys_of_one_instance_share_its_budget,
        rate_limited_instance_does_not_starve_others,
        saturated_instance_leaves_workers_to_others,
        lost_create_then_rename_leaks_nothing,
        resent_create_finds_its_own_name,
        secret_is_read_only_when_it_changes,
        // DNS automation.
        external_dns_endpoint_is_published,
        dns_is_verified_against_a_real_server,
        proxy_check_sets_proxy_verified,
        external_dns_and_bind_close_the_loop,
        external_dns_publishes_clerks_txt_records,
        frontend_api_reachable_tells_clerks_side_from_yours,
        proxy_health_reports_what_clerk_saw_through_nginx,
        // Readiness as the cluster reports it: `clerk-operator status`.
        status_command_reports_readiness,
        // Export to a ConfigMap.
        export_configmap_follows_the_domain,
        foreign_configmap_is_refused,
        primary_export_lists_satellite_origins,
    ]
}

/// Lifecycle semantics, ownership by identity and tenancy.
fn lifecycle_and_ownership_trials() -> Vec<(&'static str, TestFn)> {
    trials![
        // Lifecycle semantics.
        adopt_by_annotation,
        orphan_policy_keeps_domain,
        pause_stops_writes_and_deletes_orphan,
        drift_is_repaired_on_resync,
        forced_and_per_object_resync,
        second_object_for_an_owned_domain_is_refused,
        secret_in_use_outlives_its_domains,
        secret_ref_is_namespace_local,
        // Ownership by identity.
        owned_domain_cannot_be_adopted_from_another_namespace,
        rename_into_a_taken_name_is_refused,
        instance_is_pinned,
        pending_create_is_cleared_and_never_adopted,
        primary_rename_is_refused,
        hostile_annotations_are_bounded,
        deletion_always_has_an_exit,
        foreign_dnsendpoint_is_left_alone,
        state_does_not_outlive_objects,
        default_key_is_scoped,
        // Tenancy: the primary, explicit adoption, undecodable objects, cleanup that never
        // guesses or hangs, truthful Ready, pinning on ownership, the credentials namespace.
        primary_is_changed_only_from_allowed_namespaces,
        two_operators_never_take_each_others_domains,
        undecodable_objects_stop_nobody,
        cleanup_confirms_absence_with_the_api_server,
        namespace_deletion_finishes_after_permission_is_gone,
        ready_goes_false_when_the_domain_is_gone,
        an_object_that_owns_nothing_may_move,
        cluster_instances_need_a_credentials_namespace,
        cleanup_lets_go_when_cluster_instances_are_not_served,
    ]
}

/// Clerk instances, the Platform API, GitOps health, the chart and the one writer.
fn instances_and_chart_trials() -> Vec<(&'static str, TestFn)> {
    trials![
        // Clerk instances as objects.
        instances_report_clerk_status,
        namespace_selector_refuses_other_namespaces,
        bad_key_stalls_instance_and_domains,
        switched_key_stops_instance_and_domains,
        instance_deletion_waits_for_domains,
        shared_cluster_instance_lists_once_per_resync,
        instance_rate_limit_counts_every_request,
        // Clerk's Platform API readiness through an instance object.
        platform_status_sets_readiness_conditions,
        wrong_platform_token_is_reported_without_leaking,
        // GitOps health: kstatus, Argo CD's Lua check and kubectl wait.
        gitops_health_verdicts,
        new_object_is_reconciling_before_clerk_answers,
        // The Helm chart; the operator as a process with the chart's ServiceAccount.
        chart_renders_exact_rbac_and_crd,
        helm_install_and_lifecycle_as_service_account,
        missing_rbac_rule_is_reported_not_a_crash,
        metrics_endpoint_exports_operator_metrics,
        metrics_need_a_token_allowed_to_get_metrics,
        leader_election_failover,
        // external-dns's CRD applied while the operator runs; owned children put back.
        optional_crd_is_awaited_and_used_without_restart,
        // The chart on control planes of their own (no CRD before the install).
        helm_first_install_upgrade_uninstall_and_reinstall,
        helm_first_install_with_cluster_instance_then_upgrade_and_second_release,
        chart_upgrade_from_an_earlier_chart_keeps_objects,
        crd_names_are_stable,
        // The chart README's CA bundle recipe, with the operator binary.
        ssl_cert_file_trusts_a_private_ca_for_clerk,
        // One writer: a leader cut off from the API server stops writing before a standby
        // takes over.
        cut_off_leader_stops_clerk_writes_before_takeover,
    ]
}
