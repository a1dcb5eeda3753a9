//! The `pairscope` binary: parses the command line and dispatches to the library crates.
//! It owns presentation only (flags, progress bars, output formats, exit codes); the work
//! lives in `pairscope-store`, `pairscope-ingest`, `pairscope-synth` and the other crates.

// Doc comments of flags are the `--help` text, where a URL is plain text, not a link.
#![allow(rustdoc::bare_urls)]

mod args;
mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;
use pairscope_model::ExitStatus;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    pairscope_ann::runtime::stop_idle_blas_threads();
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    let result = match &cli.command {
        Command::Demo(args) => commands::demo::run(args, &cli.global),
        Command::Synth(args) => commands::synth::run(args, &cli.global),
        Command::Ingest(args) => commands::ingest::run(args, &cli.global),
        Command::Info(args) => commands::info::run(args, &cli.global),
        Command::Sources(args) => commands::sources::run(args, &cli.global),
        Command::Collect(args) => commands::collect::run(args, &cli.global),
        Command::Search(args) => commands::search::run_search(args, &cli.global),
        Command::Count(args) => commands::search::run_count(args, &cli.global),
        Command::Facets(args) => commands::search::run_facets(args, &cli.global),
        Command::Similar(args) => commands::similar::run(args, &cli.global),
        Command::Dups(args) => commands::dups::run(args, &cli.global),
        Command::Mentions(args) => commands::mentions::run(args, &cli.global),
        Command::Fetch(args) => commands::fetch::run_fetch(args, &cli.global),
        Command::Sql(args) => commands::sql::run(args, &cli.global),
        Command::Subset(args) => commands::subset::run_subset_command(args, &cli.global),
        Command::Diff(args) => commands::subset::run_diff(args, &cli.global),
        Command::Serve(args) => commands::serve::run(args, &cli.global),
    };
    let status = match result {
        Ok(status) => status,
        // The reader of stdout went away (`pairscope search … | head`): the output was not
        // wanted further, which is not an error to report.
        Err(_) if output::stdout_closed() => ExitStatus::Clean,
        Err(error) => {
            eprint!("{}", error_report(&error));
            if is_usage(&error) { ExitStatus::Usage } else { ExitStatus::Error }
        }
    };
    ExitCode::from(status.code() as u8)
}

/// `error` as printed: its outermost message, then each cause that adds something
/// (`  caused by: …`). Messages often carry their causes' text already (`"{path}: {source}"`,
/// and some libraries repeat a whole chain inside one message), so a message is taken apart at
/// its `": "` separators and a part that was already printed is not printed again.
fn error_report(error: &anyhow::Error) -> String {
    let mut printed: Vec<String> = Vec::new();
    let mut report = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let mut fresh = Vec::new();
        for part in text.split(": ").map(str::trim).filter(|p| !p.is_empty()) {
            if !printed.iter().any(|seen| seen == part) {
                printed.push(part.to_owned());
                fresh.push(part);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        report.push_str(if report.is_empty() { "error: " } else { "  caused by: " });
        report.push_str(&fresh.join(": "));
        report.push('\n');
    }
    report
}

/// Usage errors found after clap's own checks (a bad `--map`, an unparsable EXPR) exit 2 too:
/// every library holds the one [`UsageError`](pairscope_model::UsageError) in the chain of its
/// usage errors.
fn is_usage(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<pairscope_model::UsageError>())
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIRSCOPE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
