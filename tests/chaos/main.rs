//! Chaos soak: a real control plane, the fake Clerk injecting faults, and two leader-elected
//! operator processes that are SIGKILLed and restarted (one cut off from the API server by a
//! loopback proxy while it leads), while a seeded random workload creates, renames, re-proxies,
//! pauses and deletes ClerkDomains (and a whole namespace), renames objects into taken names,
//! aims hostile objects at other objects' domains and switches a Secret's key to the other
//! instance. Then the faults stop and the run checks that Clerk holds exactly what was asked
//! for, that ownership held, and that only the Lease holder wrote to Clerk.
//!
//! `CHAOS_OBJECTS` (default 30), `CHAOS_SEEDS` (comma-separated, default a random seed),
//! `CHAOS_KILLS` (minimum operator kills, default 10). `make chaos` runs 200 objects, 3 seeds.
#![warn(clippy::too_many_lines)]

mod model;
mod selftest;
mod workload;

use libtest_mimic::{Arguments, Trial};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args = Arguments::from_args();
    let objects = env_num("CHAOS_OBJECTS", 30) as usize;
    let kills = env_num("CHAOS_KILLS", 10) as usize;
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEEDS") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|x| x.trim().parse().expect("CHAOS_SEEDS: numbers"))
            .collect(),
        _ => vec![rand::random::<u32>() as u64],
    };
    let selftest = Trial::test("end_of_run_checks_catch_violations", || {
        selftest::run().map_err(|e| format!("{e:#}").into())
    });
    let trials = std::iter::once(selftest)
        .chain(seeds.into_iter().map(|seed| {
            Trial::test(format!("chaos_{objects}_objects_seed_{seed}"), move || {
                eprintln!("chaos: seed {seed}, {objects} objects (replay with CHAOS_SEEDS={seed})");
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(workload::run(workload::Config {
                    seed,
                    objects,
                    min_kills: kills,
                }))
                .map_err(|e| format!("seed {seed}: {e:#}").into())
            })
        }))
        .collect();
    // One soak at a time: each owns a control plane and the machine's two cores.
    let mut args = args;
    args.test_threads = Some(1);
    libtest_mimic::run(&args, trials).exit();
}
