//! Command line: serve, migrate, generate, import, token, audit, openapi.
//! Thin: each command parses its arguments and calls the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ctm_stats::policy::load_policy;
use ctm_stats::settings::{LogFormat, Settings};
use ctm_stats::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ctm-stats",
    version,
    about = "Privacy-preserving statistics over counter-trafficking case records"
)]
struct Cli {
    /// Configuration file (TOML); environment variables override it.
    #[arg(long, global = true, env = "CTM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (applies migrations first).
    Serve {
        /// On an empty store, generate the demo data set first and print a token per role.
        #[arg(long)]
        demo: bool,
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Write a synthetic CTM-like case set into the store (one transaction).
    Generate {
        #[arg(long, default_value_t = 50_000)]
        cases: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Delete the existing cases first.
        #[arg(long)]
        replace: bool,
    },
    /// Import cases from a CSV file (layout in README.md); all rows or none.
    Import { file: PathBuf },
}

/// Exit code for an invalid policy or configuration.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { demo, log_format } => {
            let _ = (demo, log_format);
            anyhow::bail!("serve is not built yet")
        }
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!(
                "migrations applied; data version {}",
                store.data_version().await?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            cases,
            seed,
            replace,
        } => {
            let store = open_store(&settings).await?;
            if !replace && !store.is_empty().await? {
                anyhow::bail!("the store already holds cases; pass --replace to replace them");
            }
            let mut all = Vec::with_capacity(cases);
            ctm_stats::synth::generate(cases, seed, Default::default(), |c| all.push(c));
            let bar = progress_bar(cases as u64, "writing");
            let added = store
                .add_cases(&all, replace, |n| bar.set_position(n as u64))
                .await?;
            bar.finish_and_clear();
            println!(
                "generated {} synthetic cases (seed {seed}); data version {}",
                added.rows, added.data_version
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file } => import(&settings, &file).await,
    }
}

async fn import(settings: &Settings, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use ctm_stats::import::{ImportError, read_cases};
    let path = file.display().to_string();
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    // Validate the whole file before touching the store.
    let bar = progress_bar(size, "validating");
    let max_year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2100);
    let cases = match read_cases(&path, max_year, |b| bar.set_position(b)) {
        Ok(c) => c,
        Err(e @ ImportError::Invalid { .. }) => {
            bar.finish_and_clear();
            eprintln!("error: {path}: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    bar.finish_and_clear();
    let store = open_store(settings).await?;
    let bar = progress_bar(cases.len() as u64, "writing");
    match store
        .add_cases(&cases, false, |n| bar.set_position(n as u64))
        .await
    {
        Ok(added) => {
            bar.finish_and_clear();
            println!(
                "imported {} cases from {path}; data version {}",
                added.rows, added.data_version
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ctm_stats::store::StoreError::Conflict(_)) => {
            bar.finish_and_clear();
            let ids: Vec<&str> = cases.iter().map(|c| c.case_id.as_str()).collect();
            let existing = store.existing_case_ids(&ids).await?;
            let mut lines: Vec<usize> = existing
                .iter()
                .filter_map(|id| ids.iter().position(|x| x == id))
                .map(|i| i + 2)
                .collect();
            lines.sort_unstable();
            eprintln!(
                "error: {path}: {} case id(s) already in the store; nothing was imported:",
                lines.len()
            );
            for l in lines.iter().take(ctm_stats::import::MAX_REPORTED) {
                eprintln!("  line {l}, column caseId: case id already in the store");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("import failed; nothing was imported"),
    }
}

fn progress_bar(len: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {percent:>3}% {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what);
    bar
}

#[allow(dead_code)]
fn policy_check(settings: &Settings) -> Result<(), ExitCode> {
    load_policy(&settings.policy_file).map(|_| ()).map_err(|e| {
        eprintln!("error: invalid policy: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}
