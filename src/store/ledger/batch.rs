//! What the ledger writers share: a batch's jobs and their outcomes, how
//! the jobs of one batch run inside its serialised transaction, and how
//! they are answered. A leaf of [`super`]: the writers of both backends
//! ([`super::pg_batch`], [`super::sqlite_writer`]) and the group commit
//! that feeds them ([`super::group_commit`]) import it, and it imports none
//! of them.

use super::ChargeError;
use super::LedgerHead;
use super::charge::{append_refusal, charge};
use super::sql::LedgerSql;
use crate::audit::chain::EntryBody;
use crate::budget::{Charge, Receipt, ReleaseCharge};
use crate::domain::Consumer;
use crate::domain::budget::Amount;
use crate::store::{Chain, StoreCause, StoreError};
use std::sync::atomic::AtomicU64;
use tokio::sync::oneshot;

/// Most charges in one transaction. Bounds how long the write lock is held
/// (a charge takes well under a millisecond of SQL) and the batch's memory.
pub const MAX_BATCH: usize = 64;

/// A charge handed to the writer: owned, since it outlives the request's borrow.
pub(super) struct OwnedCharge {
    pub(super) dataset: String,
    pub(super) consumer: Consumer,
    pub(super) new_consumer_limit: Amount,
    pub(super) releases: Vec<OwnedRelease>,
}

pub(super) struct OwnedRelease {
    pub(super) release_key: String,
    pub(super) canonical_query: String,
    pub(super) query_hash: String,
    pub(super) data_version: i64,
    pub(super) data_fingerprint: String,
    pub(super) cost: Amount,
    pub(super) body: String,
}

impl OwnedCharge {
    pub(super) fn new(c: &Charge<'_>) -> OwnedCharge {
        OwnedCharge {
            dataset: c.dataset.to_owned(),
            consumer: c.consumer.clone(),
            new_consumer_limit: c.new_consumer_limit,
            releases: c
                .releases
                .iter()
                .map(|r| OwnedRelease {
                    release_key: r.release_key.to_owned(),
                    canonical_query: r.canonical_query.to_owned(),
                    query_hash: r.query_hash.to_owned(),
                    data_version: r.data_version,
                    data_fingerprint: r.data_fingerprint.to_owned(),
                    cost: r.cost,
                    body: r.body.to_owned(),
                })
                .collect(),
        }
    }

    fn borrowed(&self) -> Charge<'_> {
        Charge {
            dataset: &self.dataset,
            consumer: &self.consumer,
            new_consumer_limit: self.new_consumer_limit,
            releases: self
                .releases
                .iter()
                .map(|r| ReleaseCharge {
                    release_key: &r.release_key,
                    canonical_query: &r.canonical_query,
                    query_hash: &r.query_hash,
                    data_version: r.data_version,
                    data_fingerprint: &r.data_fingerprint,
                    cost: r.cost,
                    body: &r.body,
                })
                .collect(),
            idempotency: None,
        }
    }
}

/// One unit of work for the writer.
pub(super) enum Work {
    Release(OwnedCharge),
    Refusal(EntryBody),
    /// Writes nothing: a readiness probe's proof that the writer commits
    /// (it runs the batch's lock, reads and commit like any other).
    Ping,
}

/// What became of a [`Work`], sent back only after the batch committed.
pub(super) enum Outcome {
    Release(Result<Vec<Receipt>, ChargeError>),
    Refusal(Result<i64, StoreError>),
    Ping(Result<(), StoreError>),
}

pub(super) struct Job {
    pub(super) work: Work,
    pub(super) reply: oneshot::Sender<Outcome>,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) batches: AtomicU64,
    pub(super) jobs: AtomicU64,
}

/// The jobs whose requests still wait: one that gave up (its deadline
/// passed, its client left) is neither charged nor answered.
pub(super) fn still_awaited(jobs: Vec<Job>) -> Vec<Job> {
    jobs.into_iter().filter(|j| !j.reply.is_closed()).collect()
}

/// Why a batch failed as a whole, and at which job (none: begin or commit).
pub(super) struct BatchFailure {
    error: StoreError,
    job: Option<usize>,
}

impl BatchFailure {
    fn at(job: usize, error: StoreError) -> BatchFailure {
        BatchFailure {
            error,
            job: Some(job),
        }
    }

    pub(super) fn whole(error: StoreError) -> BatchFailure {
        BatchFailure { error, job: None }
    }
}

impl From<sqlx::Error> for BatchFailure {
    fn from(e: sqlx::Error) -> Self {
        BatchFailure::whole(e.into())
    }
}

/// Runs `jobs` in order inside the caller's serialised transaction. A
/// refused charge writes nothing (see [`charge`]), so the others go on; any
/// other error may follow writes, so it fails the batch, and the caller
/// rolls the transaction back.
pub(super) async fn run_jobs(
    db: &mut impl LedgerSql,
    jobs: &[Job],
) -> Result<Vec<Outcome>, BatchFailure> {
    let mut head: LedgerHead = None;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (i, job) in jobs.iter().enumerate() {
        let outcome = match &job.work {
            Work::Release(c) => match charge(db, &c.borrowed(), &mut head).await {
                Ok(receipts) => Outcome::Release(Ok(receipts)),
                // Refusals and arithmetic errors are decided before any write.
                Err(
                    e @ (ChargeError::Refused(_)
                    | ChargeError::Arithmetic(_)
                    | ChargeError::RoleChanged { .. }),
                ) => Outcome::Release(Err(e)),
                Err(ChargeError::Store(e)) => return Err(BatchFailure::at(i, e)),
                Err(ChargeError::Render(e)) => {
                    return Err(BatchFailure::at(
                        i,
                        StoreError::Conflict(format!("a charge rendered inside the writer: {e}")),
                    ));
                }
            },
            Work::Refusal(entry) => match append_refusal(db, entry.clone(), &mut head).await {
                Ok(seq) => Outcome::Refusal(Ok(seq)),
                Err(e) => return Err(BatchFailure::at(i, e)),
            },
            Work::Ping => Outcome::Ping(Ok(())),
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// Answers every job of a batch once its transaction is over: each its own
/// outcome after a commit, or all an error when nothing was committed.
pub(super) fn answer(jobs: Vec<Job>, result: Result<Vec<Outcome>, BatchFailure>) {
    match result {
        Ok(outcomes) => {
            // A receiver that went away (client disconnected) is no error:
            // the charge stands, as it would after a direct commit.
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(BatchFailure { error, job }) => {
            // A store that cannot take writes for a while (a full disk, a
            // lost connection) is an outage every job is answered 503 for:
            // one warning per batch; anything else is a fault.
            let chain = Chain(&error);
            if matches!(error, StoreError::Unavailable(_)) {
                tracing::warn!(error = %chain, ?job, size = jobs.len(), "ledger batch failed; nothing of it was committed");
            } else {
                tracing::error!(error = %chain, ?job, size = jobs.len(), "ledger batch failed; nothing of it was committed");
            }
            // Every job is answered with the one error as its source.
            let error = std::sync::Arc::new(error);
            for job in jobs {
                let err = StoreError::Unavailable(StoreCause::new(
                    "the ledger transaction failed",
                    std::sync::Arc::clone(&error),
                ));
                let outcome = match job.work {
                    Work::Release(_) => Outcome::Release(Err(ChargeError::Store(err))),
                    Work::Refusal(_) => Outcome::Refusal(Err(err)),
                    Work::Ping => Outcome::Ping(Err(err)),
                };
                let _ = job.reply.send(outcome);
            }
        }
    }
}
