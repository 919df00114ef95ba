//! `ctm-stats audit ...`: the signing key, on-demand checkpoints and offline
//! verification of an export. The checks themselves live in
//! [`crate::audit::verify`], shared with the server; this module only reads files
//! and prints.

use crate::audit::checkpoint::{PublicKey, Signer};
use crate::audit::verify::{ExportError, ExportReport, parse_saved_checkpoint, verify_export};
use crate::settings::Settings;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Create the checkpoint signing key (LEDGER_KEY_FILE, mode 0600) and print its public key.
    Keygen,
    /// Print the public key and key id of LEDGER_KEY_FILE, for auditors to pin.
    PublicKey,
    /// Sign the current ledger head now and store the checkpoint (prints it as JSON).
    Checkpoint,
    /// Verify a ledger export offline: chain, checkpoint signatures, debits; exit 1 on failure.
    Verify {
        /// The export (JSON Lines) from GET /v1/audit/export.
        export: PathBuf,
        /// The pinned checkpoint public key: 64 hex characters, or a file holding them.
        #[arg(long)]
        public_key: String,
        /// A checkpoint saved earlier (GET /v1/audit/checkpoints/latest) that the export must extend.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
}

/// Why an audit command could not run (as opposed to a verification that failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn err(e: impl std::fmt::Display) -> CliError {
    CliError(e.to_string())
}

/// Runs one audit command.
pub async fn run(command: AuditCommand, settings: &Settings) -> Result<ExitCode, CliError> {
    match command {
        AuditCommand::Keygen => {
            if settings.ledger_key_file.exists() {
                return Err(CliError(format!(
                    "{} already exists; refusing to replace a signing key auditors may have pinned",
                    settings.ledger_key_file.display()
                )));
            }
            let signer = Signer::create(&settings.ledger_key_file).map_err(err)?;
            let pk = signer.public_key();
            println!(
                "created {} (keep it private; back it up encrypted)",
                settings.ledger_key_file.display()
            );
            println!("public key: {}", pk.to_hex());
            println!("key id:     {}", pk.key_id());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::PublicKey => {
            let pk = Signer::load(&settings.ledger_key_file)
                .map_err(err)?
                .public_key();
            println!("public key: {}", pk.to_hex());
            println!("key id:     {}", pk.key_id());
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let signer = Signer::load(&settings.ledger_key_file).map_err(err)?;
            let policy = crate::policy::load_policy(&settings.policy_file).map_err(err)?;
            let store = Store::connect(&settings.database_url).await.map_err(err)?;
            store.migrate().await.map_err(err)?;
            let cp = store
                .make_checkpoint(&signer, &policy.dataset)
                .await
                .map_err(err)?;
            println!("{}", serde_json::to_string_pretty(&cp).map_err(err)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            export,
            public_key,
            checkpoint,
        } => verify(&export, &public_key, checkpoint.as_deref()),
    }
}

fn read_public_key(arg: &str) -> Result<PublicKey, CliError> {
    let looks_like_hex =
        arg.trim().len() == 64 && arg.trim().bytes().all(|b| b.is_ascii_hexdigit());
    let text = if looks_like_hex {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg).map_err(|e| {
            CliError(format!(
                "--public-key: not 64 hex characters and not a readable file ({arg}: {e})"
            ))
        })?
    };
    // A file may hold the output of `audit public-key` or of GET /v1/audit/public-key.
    let hex = text
        .lines()
        .find_map(|l| {
            let l = l.trim().trim_start_matches("public key:").trim();
            (l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit())).then(|| l.to_owned())
        })
        .or_else(|| {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["public_key"].as_str().map(str::to_owned))
        })
        .unwrap_or(text);
    PublicKey::parse(&hex).map_err(|e| CliError(format!("--public-key: {e}")))
}

/// Offline verification; prints a summary, or the first bad sequence number and exits 1.
pub fn verify(export: &Path, public_key: &str, saved: Option<&Path>) -> Result<ExitCode, CliError> {
    let key = read_public_key(public_key)?;
    let saved = match saved {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
            Some(
                parse_saved_checkpoint(&text)
                    .map_err(|e| CliError(format!("{}: {e}", path.display())))?,
            )
        }
    };
    let open = || std::fs::File::open(export).map(std::io::BufReader::new);
    match verify_export(open, &key, saved.as_ref()) {
        Ok(report) => {
            print_summary(export, &key, &report);
            Ok(ExitCode::SUCCESS)
        }
        Err(ExportError::Failed(f)) => {
            eprintln!("FAILED: {}", export.display());
            eprintln!("first bad sequence number: {}", f.seq);
            eprintln!(
                "problem: {} ({})",
                f.detail,
                serde_json::to_value(f.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(ExportError::Io(e)) => Err(CliError(format!("cannot read {}: {e}", export.display()))),
    }
}

fn micro(m: i64) -> String {
    format!("{}.{:06}", m / 1_000_000, (m % 1_000_000).abs())
}

fn print_summary(export: &Path, key: &PublicKey, r: &ExportReport) {
    let s = &r.summary;
    let cp = &r.checkpoint;
    println!("OK: {} verified", export.display());
    println!("  entries:          {} (head {})", s.size, s.head_hash);
    println!(
        "  checkpoint:       size {} of dataset {}, signed {} by key {} (pinned {})",
        cp.size,
        cp.dataset,
        cp.at,
        cp.key_id,
        key.to_hex()
    );
    if r.unsigned_tail > 0 {
        println!(
            "  unsigned tail:    entries {}..{} are chained but not yet covered by a checkpoint",
            cp.size + 1,
            s.size
        );
    }
    match &r.saved {
        Some(saved) => println!(
            "  saved checkpoint: size {} (signed {}) is extended by this export",
            saved.size, saved.at
        ),
        None => println!(
            "  saved checkpoint: none given; keep this export's checkpoint line to check the next export with --checkpoint"
        ),
    }
    println!("  releases charged: {}", s.releases);
    for (dataset, g) in &s.global_debited_micro {
        println!(
            "  global spent:     {dataset} {} (= every reported global_spent_micro)",
            micro(*g)
        );
    }
    println!(
        "  consumers:        {} (each one's charges sum to every spent it was reported to have)",
        s.consumers.len()
    );
    for ((dataset, id), t) in &s.consumers {
        println!(
            "    {dataset}/{id} ({}): spent {} in {} charges; {} repeats, {} refusals, {} budget changes",
            t.role,
            micro(t.debited_micro),
            t.charges,
            t.replays,
            t.refusals,
            t.budget_changes
        );
    }
}
