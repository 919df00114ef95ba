//! Command line: serve, migrate, generate, import, token, audit, openapi.
//! Thin: each command parses its arguments and calls the library.

/// Each request allocates and frees many small buffers on two worker threads
/// (JSON bodies, cell keys, SQL rows); glibc's allocator spent about a third
/// of the service's CPU time on them under load (measured with perf), mimalloc
/// far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ctm_stats::auth::Minter;
use ctm_stats::domain::{Country, Role};
use ctm_stats::policy::load_policy;
use ctm_stats::settings::{LogFormat, Settings};
use ctm_stats::startup::Application;
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
    /// Import cases from a CSV file (layout in docs/operations.md); all rows or none.
    Import { file: PathBuf },
    /// Sign an API token with the configured key (development and operators).
    Token {
        /// researcher | government | regional | auditor | admin
        #[arg(long)]
        role: String,
        /// The consumer id (JWT `sub`): the key of the consumer's budget.
        #[arg(long)]
        sub: String,
        /// ISO alpha-3 country of a government token.
        #[arg(long)]
        country: Option<String>,
        /// Region id (from the policy, e.g. gms) of a regional token.
        #[arg(long)]
        region: Option<String>,
        /// Lifetime of the token in hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Print the OpenAPI document generated from the code.
    Openapi,
    /// Create an Ed25519 key pair for EdDSA tokens (private key + <kid>.pem in JWT_PUBLIC_KEYS_DIR).
    JwtKeygen {
        #[arg(long)]
        kid: String,
        /// Where to write the private key (default: DATA_DIR/jwt-<kid>.private.pem).
        #[arg(long)]
        private_key: Option<PathBuf>,
    },
    /// The audit ledger: signing key, checkpoints, offline verification of an export.
    Audit {
        #[command(subcommand)]
        command: ctm_stats::audit_cli::AuditCommand,
    },
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
        Command::Serve { demo, log_format } => serve(settings, demo, log_format).await,
        Command::Token {
            role,
            sub,
            country,
            region,
            hours,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("--role must be researcher, government, regional, auditor or admin")
            })?;
            let policy = load_policy(&settings.policy_file)
                .map_err(|e| anyhow::anyhow!("invalid policy: {e}"))?;
            let max = policy.limits.max_token_hours;
            if hours == 0 || hours > max {
                anyhow::bail!(
                    "--hours must be 1 to {max}: the service refuses tokens that live longer \
                     (limits.max_token_hours in the policy)"
                );
            }
            if role == Role::Regional {
                let region = region.as_deref().unwrap_or("");
                if policy.region(region).is_none() {
                    let known: Vec<&str> = policy.regions.iter().map(|r| r.id.as_str()).collect();
                    anyhow::bail!(
                        "a regional token needs --region with a region of the policy: {}",
                        known.join(", ")
                    );
                }
                let minter = Minter::from_settings(&settings)?;
                println!("{}", minter.mint(&sub, role, Some(region), hours * 3600)?);
                return Ok(ExitCode::SUCCESS);
            }
            if role == Role::Government
                && country
                    .as_deref()
                    .and_then(Country::parse_alpha3)
                    .is_none_or(|c| c.is_unknown())
            {
                anyhow::bail!(
                    "a government token needs --country with an ISO alpha-3 code, e.g. UKR"
                );
            }
            let minter = Minter::from_settings(&settings)?;
            println!(
                "{}",
                minter.mint(&sub, role, country.as_deref(), hours * 3600)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::JwtKeygen { kid, private_key } => {
            let private = private_key
                .unwrap_or_else(|| settings.data_dir.join(format!("jwt-{kid}.private.pem")));
            let (private, public) = ctm_stats::auth::generate_eddsa_keys(
                &private,
                &settings.jwt_public_keys_dir,
                &kid,
            )?;
            println!(
                "private key: {} (mode 0600; keep it with whoever mints tokens)",
                private.display()
            );
            println!("public key:  {}", public.display());
            println!(
                "serve with JWT_ALGORITHM=EdDSA; mint with JWT_PRIVATE_KEY_FILE={} JWT_KID={kid}",
                private.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi => {
            println!("{}", ctm_stats::api::openapi_json());
            Ok(ExitCode::SUCCESS)
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
        Command::Audit { command } => Ok(ctm_stats::audit_cli::run(command, &settings).await?),
    }
}

async fn import(settings: &Settings, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use ctm_stats::import::{ImportError, read_cases};
    // The policy says whether every case must name its person.
    let policy = match load_policy(&settings.policy_file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: invalid policy: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let path = file.display().to_string();
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    // Validate the whole file before touching the store.
    let bar = progress_bar(size, "validating");
    let max_year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2100);
    let cases = match read_cases(&path, max_year, policy.unit, |b| bar.set_position(b)) {
        Ok(c) => c,
        Err(e @ (ImportError::Invalid { .. } | ImportError::MissingPersonKeys { .. })) => {
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

async fn serve(
    mut settings: Settings,
    demo: bool,
    log_format: Option<LogFormat>,
) -> anyhow::Result<ExitCode> {
    if let Some(f) = log_format {
        settings.log_format = f;
    }
    ctm_stats::telemetry::init(settings.log_format);
    let policy = match load_policy(&settings.policy_file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: invalid policy: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    // Waits for a database server that is not up yet (DB_START_TIMEOUT_SECS).
    let store = ctm_stats::startup::connect_store(&settings).await?;
    store.migrate().await?;
    if demo && store.is_empty().await? {
        let n = settings.demo_cases;
        tracing::info!(
            cases = n,
            "empty store: generating the synthetic demo data set"
        );
        let mut all = Vec::with_capacity(n);
        ctm_stats::synth::generate(n, 1, Default::default(), |c| all.push(c));
        store.add_cases(&all, false, |_| {}).await?;
    }
    let app = Application::build_with_store(settings.clone(), policy, store).await?;
    let base = format!("http://{}", settings.bind.replace("0.0.0.0", "127.0.0.1"));
    tracing::info!(port = app.port(), backend = ?app.state.pipeline.store.backend(), "listening");
    if demo {
        print_demo_tokens(&settings, &base)?;
    }
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Prints one ready-to-paste token per role (demo only; 24 hours each).
fn print_demo_tokens(settings: &Settings, base: &str) -> anyhow::Result<()> {
    let minter = Minter::from_settings(settings)?;
    println!("\nDemo tokens (valid 24 h) for {base}:");
    for (role, sub, country) in [
        (Role::Researcher, "demo-researcher", None),
        (Role::Government, "demo-government-usa", Some("USA")),
        (Role::Regional, "demo-regional-gms", Some("gms")),
        (Role::Auditor, "demo-auditor", None),
        (Role::Admin, "demo-admin", None),
    ] {
        let token = minter.mint(sub, role, country, 24 * 3600)?;
        println!("export {}_TOKEN={token}", role.code().to_ascii_uppercase());
    }
    println!(
        "\nconsole: {base}/console/  (sign in with one of the tokens above)\ndocs:    {base}/docs/"
    );
    println!(
        "\ntry: curl -s {base}/v1/counts -H \"Authorization: Bearer $RESEARCHER_TOKEN\" -H 'Content-Type: application/json' -d '{{\"dimensions\":[\"gender\"],\"epsilon\":0.5}}'\n"
    );
    Ok(())
}
