//! Logging set-up. Log lines carry request ids, consumer ids, query hashes
//! and amounts charged; never a case, a true count or a request body.

use crate::settings::LogFormat;
use tracing_subscriber::EnvFilter;

/// The HTTP/1 layer's own reports, at ERROR, of what a client did to its
/// connection: a malformed or slow request head (already answered 400, 408
/// or 431), a connection reset or closed mid-answer. Client-caused, and
/// not at a level it can be told to use, so it is off unless `RUST_LOG`
/// names `actix_http`. (A response stream of ours that fails logs its
/// own cause.)
const HTTP_CLIENT_NOISE: &str = "actix_http::h1::dispatcher=off";

/// Installs the global subscriber (text or JSON). `RUST_LOG` overrides the level.
pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    if !std::env::var("RUST_LOG").is_ok_and(|f| f.contains("actix_http"))
        && let Ok(directive) = HTTP_CLIENT_NOISE.parse()
    {
        filter = filter.add_directive(directive);
    }
    // Colours only for a person at a terminal, never into a file or a collector.
    // A log line that cannot be written (standard error on a full disk) is
    // dropped: by default the subscriber reports it with `eprintln!`, which
    // panics when standard error is unwritable, and a panic on the ledger
    // writer's thread would stop every release until a restart.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
