//! A local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager on
//! loopback) with the ClerkDomain CRD installed, for `make demo`, benchmarks and manual tries.
//! Writes the admin kubeconfig to the path given as the first argument, prints `ready`, and
//! runs until SIGINT/SIGTERM.
#![warn(clippy::too_many_lines)]

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: local-cluster KUBECONFIG_PATH");
    let cp = test_kit::ControlPlane::start();
    cp.install_crds();
    std::fs::copy(&cp.kubeconfig, &out).expect("write kubeconfig");
    println!("ready {}", cp.server);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(clerk_operator::telemetry::shutdown_signal());
    drop(cp);
}
