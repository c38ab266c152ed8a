//! `voxgate-loadtest`: acts as a customer backend and many visitors. It creates sessions over
//! the control plane, connects WebRTC voice peers (str0m, all on one thread) that send 20 ms
//! Opus-sized frames and measure the echo, then ends every call and prints what it measured.

mod cli;
mod media;
mod outbox;
mod plan;
mod probe;
mod report;
mod signaling;
mod slo;
mod sockets;
mod speech;
mod talker;
mod text;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("voxgate-loadtest: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: cli::Args) -> Result<ExitCode, String> {
    let slos = match &args.slo {
        Some(text) => slo::parse(text)?,
        None => Vec::new(),
    };
    let plan = args.plan()?;
    let result = report::Run::execute(&plan)?;
    print!("{}", result.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&result.json()).map_err(|e| e.to_string())?)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let broken = slo::check(&slos, &result);
    for b in &broken {
        eprintln!("SLO broken: {b}");
    }
    Ok(if broken.is_empty() && result.all_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
