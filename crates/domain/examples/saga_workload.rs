//! The long run of the settlement saga workload (see `tests/workload/mod.rs`):
//!
//! ```text
//! cargo run --release -p wugan-domain --example saga_workload -- [--seeds N] [--seed S] [--steps K] [--total-steps T]
//! ```
//!
//! Runs seeds S, S+1, … (S defaults to one taken from the clock), K steps each (default 200),
//! until N seeds are done or, without `--seeds`, until T steps (default one million). Prints
//! seeds, steps and steps/s; exits 1 on the first violation, naming the seed.

#[path = "../tests/workload/mod.rs"]
mod workload;

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Args {
    seeds: Option<u64>,
    first_seed: u64,
    steps: u64,
    total_steps: u64,
}

fn parse_args() -> Result<Args, String> {
    let clock_seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut args = Args { seeds: None, first_seed: clock_seed, steps: 200, total_steps: 1_000_000 };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let value = given.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = value.parse::<u64>().map_err(|e| format!("{flag} {value}: {e}"))?;
        match flag.as_str() {
            "--seeds" => args.seeds = Some(number),
            "--seed" => args.first_seed = number,
            "--steps" => args.steps = number,
            "--total-steps" => args.total_steps = number,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\nusage: saga_workload [--seeds N] [--seed S] [--steps K] [--total-steps T]");
            return ExitCode::from(2);
        }
    };
    println!("first seed {}, {} steps per seed", args.first_seed, args.steps);
    let started = Instant::now();
    let mut total = workload::Report::default();
    let mut seed = args.first_seed;
    loop {
        let done = match args.seeds {
            Some(n) => total.seeds >= n,
            None => total.steps >= args.total_steps,
        };
        if done {
            break;
        }
        match workload::run_seed(seed, args.steps) {
            Ok(report) => total.add(&report),
            Err(e) => {
                eprintln!("VIOLATION: {e}");
                eprintln!("replay: cargo run -p wugan-domain --example saga_workload -- --seed {seed} --seeds 1 --steps {}", args.steps);
                return ExitCode::FAILURE;
            }
        }
        seed = seed.wrapping_add(1);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", total.summary());
    println!("{} seeds, {} steps in {seconds:.1} s: {:.0} steps/s", total.seeds, total.steps, total.steps as f64 / seconds);
    ExitCode::SUCCESS
}
