//! `pairscope serve`: flags for `pairscope-server`, which does the work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use pairscope_model::ExitStatus;
use pairscope_server::ServerConfig;

use crate::args::{GlobalArgs, RemovalArgs, ResolvedPath, UsageError};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Dataset directory. A version committed while the server runs is picked up within seconds.
    #[arg(value_parser = ResolvedPath, long, short = 'd')]
    pub dataset: PathBuf,
    /// Address and port to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub bind: SocketAddr,
    /// Allow a --bind address other than loopback (anyone who can reach it can search the dataset).
    #[arg(long)]
    pub allow_remote: bool,
    /// A host name clients use to reach a non-loopback --bind (accepted in the Host header;
    /// every other name is refused against DNS rebinding). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub allowed_host: Vec<String>,
    /// Show no image at all (pages then make no request to the images' sites).
    #[arg(long)]
    pub no_remote_images: bool,
    /// Show the images a `pairscope fetch` of this dataset kept in DIR, and never load one from
    /// its site (rows without a fetched image show a placeholder).
    #[arg(value_parser = ResolvedPath, long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Blur (until clicked) images whose punsafe is above this, and those whose NSFW label is
    /// not UNLIKELY.
    #[arg(long, default_value_t = pairscope_model::safety::DEFAULT_UNSAFE_THRESHOLD, value_name = "P")]
    pub unsafe_threshold: f64,
    /// Searches running at once [default: cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent: Option<u32>,
    /// Searches that may wait (at most --timeout) for a running one to end; more are answered
    /// 503 with Retry-After at once.
    #[arg(long, default_value_t = pairscope_server::DEFAULT_MAX_QUEUED, value_name = "N")]
    pub max_queued: usize,
    /// Time limit of every query.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Time limit of each facet (hosts, languages) of the search page; one that takes longer
    /// is left off the page.
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub facet_timeout: f64,
    /// Selections whose search-page facets are kept, so the next page of a search (or another
    /// order of it) does not count them again; 0 keeps none.
    #[arg(long, default_value_t = pairscope_server::DEFAULT_FACET_CACHE, value_name = "SELECTIONS")]
    pub facet_cache: usize,
    /// The most rows one export (/export.csv, .jsonl, .parquet) writes; a request's `cap` may
    /// ask for fewer.
    #[arg(long, default_value_t = pairscope_server::DEFAULT_EXPORT_CAP, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub export_cap: u64,
    /// Rows on these removal lists are never shown, counted or exported.
    #[command(flatten)]
    pub removal: RemovalArgs,
}

pub fn run(args: &ServeArgs, global: &GlobalArgs) -> Result<ExitStatus> {
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(UsageError::new("--timeout must be more than 0 and at most 3600 seconds").into());
    }
    let mut config = ServerConfig::new(args.dataset.clone());
    config.bind = args.bind;
    config.allow_remote = args.allow_remote;
    config.allowed_hosts = args.allowed_host.clone();
    config.remote_images = !args.no_remote_images;
    if let Some(dir) = &args.images {
        let images = pairscope_fetch::LocalImages::open(dir)?;
        if !global.quiet {
            eprintln!("{} fetched images from {}", images.len(), dir.display());
            if images.without_row_id() > 0 {
                eprintln!(
                    "  {} images have no row id (fetched --from a file without one) and cannot be shown",
                    images.without_row_id()
                );
            }
        }
        config.images = Some(std::sync::Arc::new(images));
    }
    config.unsafe_threshold = args.unsafe_threshold;
    if let Some(n) = args.max_concurrent {
        config.max_concurrent = n as usize;
    }
    config.timeout = Duration::from_secs_f64(args.timeout);
    if !(args.facet_timeout >= 0.0 && args.facet_timeout <= 3600.0) {
        return Err(UsageError::new("--facet-timeout must be between 0 and 3600 seconds").into());
    }
    config.facet_timeout = Duration::from_secs_f64(args.facet_timeout);
    config.export_cap = args.export_cap;
    config.facet_cache = args.facet_cache;
    config.max_queued = args.max_queued;
    config.removal = std::sync::Arc::new(args.removal.load()?);
    let quiet = global.quiet;
    let served = pairscope_server::serve(config, |url| {
        if !quiet {
            eprintln!("serving on {url} (read-only; Ctrl-C stops)");
        }
        // `pairscope serve | head -1` takes the address and closes the pipe: the server goes on.
        let _ = crate::output::print_text(&format!("{url}\n"));
    });
    match served {
        Ok(()) => Ok(ExitStatus::Clean),
        Err(e) => Err(e.into()),
    }
}
