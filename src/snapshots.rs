//! Where the case snapshot comes from: the file this replica saved in its
//! data directory, when it holds exactly the cases the store holds now and
//! passes verification; otherwise the store itself, after which the new
//! snapshot is saved for the next start. A reload after an import goes the
//! same way.
//!
//! The file is keyed to the store and its data: the store's identity, data
//! version and data stamp (drawn again by every import), and the policy's
//! bounds (published domains, cases per person, caps on multi-valued
//! groups), since the snapshot holds the cases after those bounds. Any
//! difference makes it stale, and it is rebuilt. Its rows are checked too:
//! the file carries an HMAC, under the server's secret, of its key and of
//! the digest of its rows, recomputed from what is read; a file that was
//! cut short, damaged or written by anyone without the secret is not used.
//!
//! The file holds case data (bounded, coded, without ids), like the store:
//! it is written with mode 0600 beside the other secrets of the data
//! directory. `SNAPSHOT_FILE=off` keeps it off disk, at the price of a
//! rebuild from the store on every start.

use crate::engine::{Snapshot, SnapshotBuilder, SnapshotCell, row_bytes};
use crate::policy::{Policy, PrivacyUnit};
use crate::privacy::NoiseKey;
use crate::store::{DataState, Store};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First line of the file: what it is, and the version of its layout.
const MAGIC: &str = "ctm-stats case snapshot v2";
/// Domain separation of the file's tag.
const TAG_DOMAIN: &[u8] = b"ctm-stats/snapshot-file/v1";

/// An empty snapshot builder with the policy's bounds: published domains,
/// cases per person, multi-valued caps.
pub fn builder(policy: &Policy) -> SnapshotBuilder {
    let caps: Vec<_> = policy
        .dimensions
        .iter()
        .filter(|d| d.field.kind() == crate::domain::FieldKind::Multi)
        .map(|d| (d.field, d.max_values_per_case))
        .collect();
    let per_person = match policy.unit {
        PrivacyUnit::Person => policy.max_cases_per_person,
        // Every record is its own unit: nothing is grouped by person.
        PrivacyUnit::Case => u64::MAX,
    };
    let mut builder = SnapshotBuilder::new(per_person, &caps);
    for d in &policy.dimensions {
        if d.field.kind() == crate::domain::FieldKind::Single
            && d.values.len() < d.field.cardinality()
        {
            builder.restrict(d.field, &d.values);
        }
    }
    builder
}

/// Reads every case of the store into a bounded columnar snapshot: cases
/// outside the policy's published domains left out, at most
/// `max_cases_per_person` cases per person when the unit of privacy is a
/// person, multi-valued groups capped.
pub async fn load_from_store(store: &Store, policy: &Policy) -> anyhow::Result<Snapshot> {
    Ok(from_store(store, builder(policy)).await?.0)
}

async fn from_store(
    store: &Store,
    builder: SnapshotBuilder,
) -> anyhow::Result<(Snapshot, DataState)> {
    let started = Instant::now();
    let (state, builder) = store
        .load_cases(builder, |b, case| b.push(&case))
        .await
        .context("loading the case snapshot")?;
    let snapshot = builder.finish(&state.store_id, state.version);
    loaded(&snapshot, "store", started);
    Ok((snapshot, state))
}

fn loaded(snapshot: &Snapshot, from: &'static str, started: Instant) {
    let version = snapshot.data_version();
    crate::metrics::METRICS.snapshot_loaded(version, started.elapsed().as_secs_f64());
    // Memory in whole MiB only: the exact byte count would give the exact
    // number of persons counted (21 bytes each).
    tracing::info!(
        data_version = version,
        from,
        memory_mib = snapshot.memory_bytes().div_ceil(1 << 20),
        millis = started.elapsed().as_millis() as u64,
        "snapshot loaded"
    );
}

/// Loads and saves snapshots for one replica.
#[derive(Clone)]
pub struct Loader {
    store: Store,
    policy: Arc<Policy>,
    key: NoiseKey,
    file: Option<PathBuf>,
}

impl Loader {
    pub fn new(store: Store, policy: Arc<Policy>, key: NoiseKey, file: Option<PathBuf>) -> Self {
        Loader {
            store,
            policy,
            key,
            file,
        }
    }

    /// The snapshot of the store's cases now: from the file when it is
    /// current and verifies, else from the store (then saved to the file).
    pub async fn load(&self) -> anyhow::Result<Snapshot> {
        let builder = builder(&self.policy);
        let bounds = builder.bounds();
        if let Some(path) = &self.file {
            let state = self.store.data_state().await?;
            let started = Instant::now();
            let read = {
                let (path, key, state, bounds) = (
                    path.clone(),
                    self.key.clone(),
                    state.clone(),
                    bounds.clone(),
                );
                tokio::task::spawn_blocking(move || read_file(&path, &key, &state, &bounds)).await
            };
            match read {
                Ok(Ok(Some(snapshot))) => {
                    loaded(&snapshot, "file", started);
                    return Ok(snapshot);
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "the saved snapshot is not used; rebuilding it from the store"
                ),
                Err(e) => tracing::warn!(error = %e, "reading the saved snapshot stopped"),
            }
        }
        let (snapshot, state) = from_store(&self.store, builder).await?;
        let Some(path) = &self.file else {
            return Ok(snapshot);
        };
        let snapshot = Arc::new(snapshot);
        let saved = {
            let (path, key, snapshot) = (path.clone(), self.key.clone(), Arc::clone(&snapshot));
            tokio::task::spawn_blocking(move || save_file(&path, &key, &snapshot, &state, &bounds))
                .await
        };
        match saved {
            Ok(Ok(())) => {}
            // Not saving costs the next start a rebuild, nothing else.
            Ok(Err(e)) => tracing::warn!(
                file = %path.display(),
                error = %e,
                "could not save the snapshot; the next start rebuilds it"
            ),
            Err(e) => tracing::warn!(error = %e, "saving the snapshot stopped"),
        }
        Arc::try_unwrap(snapshot).map_err(|_| anyhow::anyhow!("the saved snapshot is still shared"))
    }

    /// Polls the store's data version and swaps in a new snapshot when it
    /// changes (so each replica sharing one PostgreSQL notices an import).
    pub fn spawn_refresher(self, cell: Arc<SnapshotCell>, every: Duration) {
        if every.is_zero() {
            return;
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let current = cell.current().data_version();
                match self.store.data_version().await {
                    Ok(v) if v != current => match self.load().await {
                        Ok(s) => cell.replace(s),
                        // The store away for a while is an outage, not a fault.
                        Err(e)
                            if matches!(
                                e.downcast_ref(),
                                Some(crate::store::StoreError::Unavailable(_))
                            ) =>
                        {
                            tracing::warn!(error = %format_args!("{e:#}"), "snapshot reload failed; keeping the previous one")
                        }
                        Err(e) => {
                            tracing::error!(error = %format_args!("{e:#}"), "snapshot reload failed; keeping the previous one")
                        }
                    },
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %crate::store::Chain(&e), "cannot read the data version")
                    }
                }
            }
        });
    }
}

/// The file's second line.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Header {
    store_id: String,
    data_version: i64,
    data_stamp: String,
    bounds: String,
    rows: u64,
    /// Hex HMAC of all of the above and of the rows' digest.
    tag: String,
}

fn tag(key: &NoiseKey, header: &Header, snapshot: &Snapshot) -> String {
    hex::encode(key.tag(
        TAG_DOMAIN,
        &[
            header.store_id.as_bytes(),
            &header.data_version.to_be_bytes(),
            header.data_stamp.as_bytes(),
            header.bounds.as_bytes(),
            &header.rows.to_be_bytes(),
            snapshot.identity().digest.as_bytes(),
        ],
    ))
}

/// Saved snapshots are padded with zeros to a whole number of these, so
/// the file's size says no more about the number of persons than the
/// logs' snapshot size in whole MiB does.
const PAD_BYTES: u64 = 1 << 20;

/// The padded length of a file of `len` meaningful bytes.
fn padded_len(len: u64) -> u64 {
    len.div_ceil(PAD_BYTES).max(1) * PAD_BYTES
}

fn corrupt(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned())
}

/// The saved snapshot at `path` if it is the one of `state` under `bounds`
/// and verifies; `None` when there is none or it is stale; an error when it
/// is damaged or fails verification.
pub fn read_file(
    path: &Path,
    key: &NoiseKey,
    state: &DataState,
    bounds: &str,
) -> std::io::Result<Option<Snapshot>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let mut input = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    input.by_ref().take(256).read_line(&mut line)?;
    if line.trim_end() != MAGIC {
        return Err(corrupt("not a snapshot file of this version"));
    }
    let mut header_line = String::new();
    input.by_ref().take(1 << 20).read_line(&mut header_line)?;
    let header: Header =
        serde_json::from_str(&header_line).map_err(|_| corrupt("its header does not read"))?;
    if header.store_id != state.store_id
        || header.data_version != state.version
        || header.data_stamp != state.stamp
        || header.bounds != bounds
    {
        tracing::info!("the saved snapshot is of other data or bounds; rebuilding it");
        return Ok(None);
    }
    let rows = usize::try_from(header.rows).map_err(|_| corrupt("too many rows"))?;
    let expected = (line.len() + header_line.len()) as u64 + (rows as u64) * row_bytes() as u64;
    if size != padded_len(expected) {
        return Err(corrupt("its length is not that of its rows"));
    }
    let snapshot = Snapshot::read_rows(&mut input, rows, &state.store_id, state.version)?;
    // The padding is zeros and nothing else (it is outside the tag).
    let mut rest = Vec::new();
    input.read_to_end(&mut rest)?;
    if rest.iter().any(|&b| b != 0) {
        return Err(corrupt("its padding is not zeros"));
    }
    let want = tag(key, &header, &snapshot);
    // Both are HMACs the reader cannot choose, compared whole.
    if want.as_bytes() != header.tag.as_bytes() {
        return Err(corrupt("it fails verification"));
    }
    Ok(Some(snapshot))
}

/// Saves `snapshot` of `state` under `bounds` at `path`: written beside it
/// under a temporary name (mode 0600), synced, then renamed over it, so a
/// crash leaves the old file or the new one, never half of one.
pub fn save_file(
    path: &Path,
    key: &NoiseKey,
    snapshot: &Snapshot,
    state: &DataState,
    bounds: &str,
) -> std::io::Result<()> {
    let mut header = Header {
        store_id: state.store_id.clone(),
        data_version: state.version,
        data_stamp: state.stamp.clone(),
        bounds: bounds.to_owned(),
        rows: snapshot.len() as u64,
        tag: String::new(),
    };
    header.tag = tag(key, &header, snapshot);
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        crate::files::create_private_dir(dir).map_err(|e| std::io::Error::other(e.0))?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    writeln!(out, "{MAGIC}")?;
    let header_line = serde_json::to_string(&header).map_err(std::io::Error::other)?;
    let header_len = header_line.len() + 1;
    writeln!(out, "{header_line}")?;
    snapshot.write_rows(&mut out)?;
    let written =
        (MAGIC.len() + 1 + header_len) as u64 + snapshot.len() as u64 * row_bytes() as u64;
    std::io::copy(
        &mut std::io::repeat(0).take(padded_len(written) - written),
        &mut out,
    )?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(cases: usize) -> Snapshot {
        let policy =
            crate::policy::parse_policy("default.toml", include_str!("../policy/default.toml"))
                .expect("policy");
        let mut b = builder(&policy);
        for case in crate::synth::generate_vec(cases, 7) {
            b.push(&case);
        }
        b.finish("store-a", 3)
    }

    fn state() -> DataState {
        DataState {
            store_id: "store-a".into(),
            version: 3,
            stamp: "stamp-1".into(),
        }
    }

    fn counts(s: &Snapshot) -> Vec<u64> {
        let group = [crate::engine::GroupBy {
            field: crate::domain::Field::Gender,
            values: vec![0, 1, 2, 3],
        }];
        s.count(&group, &[]).expect("count")
    }

    #[test]
    fn a_saved_snapshot_reads_back_the_same() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("snapshot.bin");
        let key = NoiseKey::generate().expect("key");
        let original = snapshot(5_000);
        save_file(&path, &key, &original, &state(), "b").expect("write");
        let back = read_file(&path, &key, &state(), "b")
            .expect("read")
            .expect("current");
        assert_eq!(back.identity(), original.identity());
        assert_eq!(back.len(), original.len());
        assert_eq!(counts(&back), counts(&original));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_saved_snapshot_is_padded_so_its_size_hides_the_number_of_persons() {
        let dir = tempfile::tempdir().expect("dir");
        let key = NoiseKey::generate().expect("key");
        let size = |cases: usize| {
            let path = dir.path().join(format!("s{cases}.bin"));
            save_file(&path, &key, &snapshot(cases), &state(), "b").expect("write");
            std::fs::metadata(&path).expect("meta").len()
        };
        let (a, b) = (size(1_000), size(1_001));
        assert_eq!(a, b, "one more person, same size");
        assert_eq!(a % PAD_BYTES, 0);
    }

    #[test]
    fn a_snapshot_of_other_data_or_bounds_is_stale() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("snapshot.bin");
        let key = NoiseKey::generate().expect("key");
        save_file(&path, &key, &snapshot(1_000), &state(), "b").expect("write");
        let mut other = state();
        other.stamp = "stamp-2".into();
        assert!(read_file(&path, &key, &other, "b").expect("read").is_none());
        let mut other = state();
        other.version = 4;
        assert!(read_file(&path, &key, &other, "b").expect("read").is_none());
        assert!(
            read_file(&path, &key, &state(), "c")
                .expect("read")
                .is_none()
        );
        assert!(
            read_file(&dir.path().join("none.bin"), &key, &state(), "b")
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn a_damaged_or_foreign_snapshot_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("snapshot.bin");
        let key = NoiseKey::generate().expect("key");
        save_file(&path, &key, &snapshot(1_000), &state(), "b").expect("write");
        let good = std::fs::read(&path).expect("bytes");

        // One byte of the rows changed, or of the padding.
        let rows_start = good
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(1)
            .map_or(0, |(i, _)| i + 1);
        for at in [rows_start + 10, good.len() - 1] {
            let mut bytes = good.clone();
            bytes[at] ^= 1;
            std::fs::write(&path, &bytes).expect("write");
            assert!(read_file(&path, &key, &state(), "b").is_err(), "byte {at}");
        }

        // Cut short.
        std::fs::write(&path, &good[..good.len() - 10]).expect("write");
        assert!(read_file(&path, &key, &state(), "b").is_err());

        // Written under another server's secret.
        std::fs::write(&path, &good).expect("write");
        let other = NoiseKey::generate().expect("key");
        assert!(read_file(&path, &other, &state(), "b").is_err());

        // Not a snapshot file at all.
        std::fs::write(&path, b"hello\n").expect("write");
        assert!(read_file(&path, &key, &state(), "b").is_err());
    }
}
