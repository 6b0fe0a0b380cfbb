//! Prints a Markdown table of matcher throughput (events/s on one core) for the default
//! pack and for 1,000 generated rules on a realistic event mix.
//!
//! `cargo run --release --example bench_table -- [RULES] [MILLIS]`

fn main() {
    let mut args = std::env::args().skip(1);
    let extra: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let millis: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    match lanner_rules::bench::run_table(extra, millis) {
        Ok((_, table)) => print!("{table}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
