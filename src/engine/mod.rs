//! The in-memory columnar snapshot of the case store and grouped counting over it.
//!
//! A [`Snapshot`] is immutable: it is built once per data version, with
//! contribution bounding already applied (at most `max_cases_per_person` cases
//! per person, at most the policy cap of values per multi-valued group) and
//! cases outside the published domain of a field left out, and swapped in
//! atomically by [`SnapshotCell`]. A count reads one snapshot from start to
//! end and reports its data identity.
//!
//! At load the snapshot takes a SHA-256 digest of exactly what it holds (the
//! bounded rows, column by column, in their stored order, which follows from
//! the store's content alone), so that noise can follow the content rather
//! than a version counter (see `privacy::rng`). The digest lives in the
//! [`DataIdentity`] and never leaves the process unkeyed.
//!
//! Layout: one byte per case for every single-valued field (dictionary code),
//! two bytes per case for every multi-valued group (bit 15 = group known,
//! bits 0..14 = values). 21 bytes per case in all.
//!
//! Rows are clustered by country of exploitation, then registration year (a
//! stable counting sort at load), and every zone of [`ZONE`] rows keeps the
//! smallest and largest code of each single-valued column and the union of
//! each multi-valued one (about 0.02 bytes per case). A count first drops
//! the zones that no row of which can pass its filters, so the national
//! queries of government partners, which always filter by their country, and
//! year ranges read only their own rows instead of the whole snapshot.
//!
//! Counting folds grouping and filtering into one lookup table per column:
//! each table maps a code to its offset in the dense output array (position
//! times stride), or to [`INVALID`] when the code is filtered out or outside the
//! declared domain. A case's cell is the sum of its lookups; sums of at least
//! [`INVALID`] are skipped. The inner loop is branch-light and allocation-free.
//!
//! This file is longer than the house limit on purpose: the column layout,
//! the clustering order, the zone statistics and the counting loop rely on
//! one another's invariants (code widths, the `KNOWN` bit, zone boundaries
//! on block boundaries), and keeping them in one file keeps those
//! invariants checkable in one read. The rows as bytes (for the snapshot
//! file) live in `rows.rs` and the tests in `tests.rs`.

use crate::domain::{Case, ContentDigest, DataIdentity, Field, FieldKind};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Marks a code that puts a case in no cell.
const INVALID: u32 = 1 << 28;
/// Bit of a multi-valued column that says the group is known.
const KNOWN: u16 = 1 << 15;
/// Rows handled per block of the counting loop.
const BLOCK: usize = 2048;
/// Rows per zone of the zone statistics (a multiple of [`BLOCK`]).
const ZONE: usize = BLOCK;
/// Below this many rows to read, one thread is faster than two.
const PARALLEL_MIN: usize = 250_000;

/// Counters per base cell of the byte histograms: the low byte of a
/// multi-valued column, then bits 8..14 (bit 15, "known", is not a value).
const HIST_WIDTH: usize = 256 + 128;
/// The byte histograms pay off from this many rows to read...
const HIST_MIN_ROWS: usize = 16_384;
/// ...and up to this many cells (their memory is cells x HIST_WIDTH counters).
const HIST_MAX_CELLS: usize = 512;

/// Largest number of cells a count may produce (policy limits are far below).
pub const MAX_CELLS: usize = 1 << 24;

/// A column of the snapshot.
#[derive(Debug, Clone)]
enum Column {
    Single(Vec<u8>),
    Multi(Vec<u16>),
}

/// What each zone of [`ZONE`] rows holds in a column.
#[derive(Debug, Clone)]
enum ZoneStats {
    Single { min: Vec<u8>, max: Vec<u8> },
    Multi { union: Vec<u16> },
}

/// Domain separation tag of the content digest (bump it if the layout changes).
const DIGEST_DOMAIN: &[u8] = b"ctm-stats/snapshot-digest/v1";

/// Immutable, bounded, columnar copy of the cases of one data version.
#[derive(Debug)]
pub struct Snapshot {
    identity: DataIdentity,
    /// How many counts ran on this snapshot: a probe for tests that check
    /// which requests read case data (never exposed over HTTP).
    evaluations: AtomicU64,
    len: usize,
    columns: Vec<Column>,
    /// Per column (in [`Field::ALL`] order), per zone.
    zones: Vec<ZoneStats>,
}

/// Group by one field, with the declared domain as field code indices in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBy {
    pub field: Field,
    pub values: Vec<u16>,
}

/// Keep only cases whose field takes one of `allowed` (for a multi-valued group:
/// the group is known and has at least one of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub allowed: Vec<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("a grouped count may have at most {MAX_CELLS} cells")]
    TooManyCells,
    #[error("value code {code} is outside the domain of {field}")]
    BadCode { field: Field, code: u16 },
    #[error("a counting thread failed")]
    WorkerFailed,
}

/// Threads a large count may use (at most 4). Asked once: on Linux the
/// answer reads the cgroup's CPU quota, which is not for every request.
fn counting_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
    })
}

/// Cuts `ranges` into consecutive parts of at most `per_part` rows each.
fn split_rows(ranges: &[Range<usize>], per_part: usize) -> Vec<Vec<Range<usize>>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut room = per_part.max(1);
    for r in ranges {
        let mut start = r.start;
        while start < r.end {
            let take = (r.end - start).min(room);
            part.push(start..start + take);
            start += take;
            room -= take;
            if room == 0 {
                parts.push(std::mem::take(&mut part));
                room = per_part.max(1);
            }
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// Builds a snapshot from cases arriving person by person, earliest first
/// (the order of `Store::load_cases`).
pub struct SnapshotBuilder {
    max_cases_per_person: u64,
    caps: Vec<(Field, u32)>,
    /// Per single-valued field restricted to a published domain: which codes stay.
    domains: Vec<(Field, Box<[bool; 256]>)>,
    current_person: Option<String>,
    taken_for_person: u64,
    len: usize,
    columns: Vec<Column>,
}

impl SnapshotBuilder {
    /// `caps` bounds each multi-valued group to its first `cap` values (in
    /// domain order); groups without a cap keep every value.
    pub fn new(max_cases_per_person: u64, caps: &[(Field, u64)]) -> Self {
        let columns = Field::ALL
            .iter()
            .map(|f| match f.kind() {
                FieldKind::Single => Column::Single(Vec::new()),
                FieldKind::Multi => Column::Multi(Vec::new()),
            })
            .collect();
        SnapshotBuilder {
            max_cases_per_person,
            caps: caps.iter().map(|&(f, c)| (f, c.min(15) as u32)).collect(),
            domains: Vec::new(),
            current_person: None,
            taken_for_person: 0,
            len: 0,
            columns,
        }
    }

    /// Keeps only cases whose single-valued `field` takes one of `codes` (the
    /// field's published domain). Applied before contribution bounding: a
    /// person's earliest case inside the domain is the one that counts.
    pub fn restrict(&mut self, field: Field, codes: &[u16]) {
        if field.kind() != FieldKind::Single {
            return;
        }
        let mut allowed = Box::new([false; 256]);
        for &c in codes {
            if let Some(slot) = allowed.get_mut(usize::from(c)) {
                *slot = true;
            }
        }
        self.domains.push((field, allowed));
    }

    /// Adds a case unless it lies outside a published domain or its person
    /// already contributed `max_cases_per_person` cases.
    pub fn push(&mut self, case: &Case) {
        for (field, allowed) in &self.domains {
            let code = case.single_code(*field).unwrap_or(0);
            if !allowed.get(usize::from(code)).copied().unwrap_or(false) {
                return;
            }
        }
        if self.current_person.as_deref() == Some(case.person_key.as_str()) {
            if self.taken_for_person >= self.max_cases_per_person {
                return;
            }
        } else {
            self.current_person = Some(case.person_key.clone());
            self.taken_for_person = 0;
        }
        self.taken_for_person += 1;
        self.len += 1;
        for (&field, col) in Field::ALL.iter().zip(self.columns.iter_mut()) {
            match col {
                Column::Single(v) => v.push(case.single_code(field).unwrap_or(0) as u8),
                Column::Multi(v) => {
                    let flags = case.flags(field).unwrap_or_default();
                    let mut bits = flags.bits & !KNOWN;
                    if let Some(&(_, cap)) = self.caps.iter().find(|(f, _)| *f == field) {
                        bits = keep_lowest_bits(bits, cap);
                    }
                    v.push(if flags.known { bits | KNOWN } else { 0 });
                }
            }
        }
    }

    /// What this builder keeps and leaves out, as text: equal for two
    /// builders that make the same snapshot of the same cases, so it is part
    /// of the key of a saved snapshot.
    pub fn bounds(&self) -> String {
        use std::fmt::Write;
        let mut out = format!("per_person={};caps=", self.max_cases_per_person);
        for (field, cap) in &self.caps {
            let _ = write!(out, "{}:{cap},", field.index());
        }
        out.push_str(";domains=");
        for (field, allowed) in &self.domains {
            let _ = write!(out, "{}:", field.index());
            for (code, _) in allowed.iter().enumerate().filter(|(_, ok)| **ok) {
                let _ = write!(out, "{code}.");
            }
            out.push(',');
        }
        out
    }

    /// The snapshot of the store `store_id` at `data_version`.
    pub fn finish(mut self, store_id: &str, data_version: i64) -> Snapshot {
        cluster(&mut self.columns, self.len);
        let zones = self.columns.iter().map(zone_stats).collect();
        let digest = content_digest(&self.columns, self.len);
        Snapshot {
            identity: DataIdentity {
                store_id: store_id.to_owned(),
                version: data_version,
                digest,
            },
            evaluations: AtomicU64::new(0),
            len: self.len,
            columns: self.columns,
            zones,
        }
    }
}

/// SHA-256 of the tag, the row count and every column in [`Field::ALL`]
/// order (multi-valued columns as little-endian `u16`s). Rows are in their
/// stored order: clustered, and within a cluster in the order the store
/// gives (person, year, case id), so the digest is a function of the
/// content alone.
fn content_digest(columns: &[Column], len: usize) -> ContentDigest {
    let mut h = Sha256::new();
    h.update((DIGEST_DOMAIN.len() as u64).to_be_bytes());
    h.update(DIGEST_DOMAIN);
    h.update((len as u64).to_be_bytes());
    h.update((columns.len() as u64).to_be_bytes());
    let mut buf = Vec::with_capacity(2 * BLOCK);
    for col in columns {
        match col {
            Column::Single(v) => {
                h.update([1u8]);
                h.update(v);
            }
            Column::Multi(v) => {
                h.update([2u8]);
                for chunk in v.chunks(BLOCK) {
                    buf.clear();
                    buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
                    h.update(&buf);
                }
            }
        }
    }
    ContentDigest::from_bytes(h.finalize().into())
}

/// Reorders the rows of every column by (country of exploitation,
/// registration year), keeping the order within equal keys: a counting sort,
/// linear in the rows. Counts do not depend on row order; zones do.
fn cluster(columns: &mut [Column], len: usize) {
    let key_of = |field: Field| match &columns[field.index() as usize] {
        Column::Single(v) => Some(v),
        Column::Multi(_) => None,
    };
    let (Some(country), Some(year)) = (
        key_of(Field::CountryOfExploitation),
        key_of(Field::RegistrationYear),
    ) else {
        return;
    };
    let key = |i: usize| (usize::from(country[i]) << 8) | usize::from(year[i]);
    let mut next = vec![0usize; 1 << 16];
    for i in 0..len {
        next[key(i)] += 1;
    }
    let mut start = 0;
    for slot in next.iter_mut() {
        let n = *slot;
        *slot = start;
        start += n;
    }
    let mut order = vec![0u32; len];
    for i in 0..len {
        let k = key(i);
        order[next[k]] = i as u32;
        next[k] += 1;
    }
    for col in columns.iter_mut() {
        match col {
            Column::Single(v) => *v = order.iter().map(|&i| v[i as usize]).collect(),
            Column::Multi(v) => *v = order.iter().map(|&i| v[i as usize]).collect(),
        }
    }
}

fn zone_stats(col: &Column) -> ZoneStats {
    match col {
        Column::Single(v) => {
            let min = v
                .chunks(ZONE)
                .map(|z| z.iter().copied().min().unwrap_or(0))
                .collect();
            let max = v
                .chunks(ZONE)
                .map(|z| z.iter().copied().max().unwrap_or(0))
                .collect();
            ZoneStats::Single { min, max }
        }
        Column::Multi(v) => ZoneStats::Multi {
            union: v
                .chunks(ZONE)
                .map(|z| z.iter().fold(0, |a, &b| a | b))
                .collect(),
        },
    }
}

fn keep_lowest_bits(mut bits: u16, n: u32) -> u16 {
    let mut out = 0;
    for _ in 0..n {
        if bits == 0 {
            break;
        }
        let low = bits & bits.wrapping_neg();
        out |= low;
        bits &= !low;
    }
    out
}

/// What rules a zone out for a query: no code in the zone's range passes a
/// single-valued table, or no value of the zone's union passes a
/// multi-valued filter or grouping.
enum Prune<'a> {
    Single {
        min: &'a [u8],
        max: &'a [u8],
        /// passing[c] = number of codes below c whose table entry is not INVALID.
        passing: Box<[u16; 257]>,
    },
    Multi {
        union: &'a [u16],
        needed: u16,
    },
}

impl Prune<'_> {
    fn may_match(&self, zone: usize) -> bool {
        match self {
            Prune::Single { min, max, passing } => {
                passing[usize::from(max[zone]) + 1] > passing[usize::from(min[zone])]
            }
            Prune::Multi { union, needed } => union[zone] & KNOWN != 0 && union[zone] & needed != 0,
        }
    }
}

/// Per-query plan: lookup tables for single-valued columns, bit tables for multi-valued ones.
struct Plan<'a> {
    /// (column, table code -> offset or INVALID); a fixed-size table needs no bounds checks.
    singles: Vec<(&'a [u8], Box<[u32; 256]>)>,
    /// (column, per-bit offset or INVALID) for multi-valued grouping.
    multi_groups: Vec<(&'a [u16], [u32; 15])>,
    /// (column, mask of allowed bits) for multi-valued filters.
    multi_filters: Vec<(&'a [u16], u16)>,
    /// What zones of the snapshot can be skipped.
    prunes: Vec<Prune<'a>>,
    /// Count a single multi-valued grouping through byte histograms (see
    /// [`Plan::run`]) instead of visiting each row's values.
    byte_histograms: bool,
    cells: usize,
}

impl Snapshot {
    pub fn data_version(&self) -> i64 {
        self.identity.version
    }

    /// What this snapshot holds, for keyed noise and release keys only.
    pub fn identity(&self) -> &DataIdentity {
        &self.identity
    }

    /// How many counts ran on this snapshot (a test probe).
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::Relaxed)
    }

    /// Number of cases after contribution bounding. Internal use only: never released.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the columns.
    pub fn memory_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Single(v) => v.capacity(),
                Column::Multi(v) => v.capacity() * 2,
            })
            .sum::<usize>()
            + self
                .zones
                .iter()
                .map(|z| match z {
                    ZoneStats::Single { min, max } => min.capacity() + max.capacity(),
                    ZoneStats::Multi { union } => union.capacity() * 2,
                })
                .sum::<usize>()
    }

    /// An empty snapshot of a store that has no data yet.
    pub fn empty(store_id: &str, data_version: i64) -> Snapshot {
        SnapshotBuilder::new(1, &[]).finish(store_id, data_version)
    }

    /// True counts of every cell of the grouping, row-major in the order of
    /// `group` (the last dimension varies fastest). These are the true counts:
    /// they must go through the privacy mechanism and nowhere else.
    pub fn count(&self, group: &[GroupBy], filters: &[Filter]) -> Result<Vec<u64>, EngineError> {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let mut plan = self.plan(group, filters)?;
        let ranges = plan.live_ranges(self.len);
        let rows: usize = ranges.iter().map(ExactSizeIterator::len).sum();
        plan.byte_histograms =
            plan.multi_groups.len() == 1 && plan.cells <= HIST_MAX_CELLS && rows >= HIST_MIN_ROWS;
        let threads = counting_threads();
        if rows < PARALLEL_MIN || threads < 2 {
            let mut counts = vec![0u64; plan.cells + 1];
            plan.run(&ranges, &mut counts);
            counts.truncate(plan.cells);
            return Ok(counts);
        }
        let parts = split_rows(&ranges, rows.div_ceil(threads));
        let partials: Vec<Vec<u64>> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| {
                    let plan = &plan;
                    s.spawn(move || {
                        let mut counts = vec![0u64; plan.cells + 1];
                        plan.run(part, &mut counts);
                        counts
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        if partials.len() != parts.len() {
            return Err(EngineError::WorkerFailed);
        }
        let mut counts = vec![0u64; plan.cells];
        for p in &partials {
            for (c, x) in counts.iter_mut().zip(p) {
                *c += x;
            }
        }
        Ok(counts)
    }

    fn column(&self, field: Field) -> &Column {
        &self.columns[field.index() as usize]
    }

    fn plan(&self, group: &[GroupBy], filters: &[Filter]) -> Result<Plan<'_>, EngineError> {
        let mut cells: usize = 1;
        for g in group {
            cells = cells
                .checked_mul(g.values.len())
                .filter(|&c| c <= MAX_CELLS)
                .ok_or(EngineError::TooManyCells)?;
        }
        let mut strides = vec![1usize; group.len()];
        for i in (0..group.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * group[i + 1].values.len();
        }
        let mut plan = Plan {
            singles: Vec::new(),
            multi_groups: Vec::new(),
            multi_filters: Vec::new(),
            prunes: Vec::new(),
            byte_histograms: false,
            cells,
        };
        // The field of each entry of `plan.singles`, for its zone statistics.
        let mut single_fields = Vec::new();
        let check = |field: Field, code: u16| {
            if usize::from(code) < field.cardinality() {
                Ok(())
            } else {
                Err(EngineError::BadCode { field, code })
            }
        };
        for (g, &stride) in group.iter().zip(&strides) {
            match self.column(g.field) {
                Column::Single(col) => {
                    let mut lut = Box::new([INVALID; 256]);
                    for (pos, &code) in g.values.iter().enumerate() {
                        check(g.field, code)?;
                        lut[usize::from(code)] = (pos * stride) as u32;
                    }
                    plan.singles.push((col.as_slice(), lut));
                    single_fields.push(g.field);
                }
                Column::Multi(col) => {
                    let mut bits = [INVALID; 15];
                    for (pos, &code) in g.values.iter().enumerate() {
                        check(g.field, code)?;
                        bits[usize::from(code)] = (pos * stride) as u32;
                    }
                    plan.multi_groups.push((col.as_slice(), bits));
                }
            }
        }
        for f in filters {
            match self.column(f.field) {
                Column::Single(col) => {
                    let mut allowed = [false; 256];
                    for &code in &f.allowed {
                        check(f.field, code)?;
                        allowed[usize::from(code)] = true;
                    }
                    // Fold into the grouping table of the same column if there is one.
                    if let Some((_, lut)) = plan
                        .singles
                        .iter_mut()
                        .find(|(c, _)| std::ptr::eq(*c, col.as_slice()))
                    {
                        for (code, v) in lut.iter_mut().enumerate() {
                            if !allowed[code] {
                                *v = INVALID;
                            }
                        }
                    } else {
                        let lut = Box::new(allowed.map(|a| if a { 0 } else { INVALID }));
                        plan.singles.push((col.as_slice(), lut));
                        single_fields.push(f.field);
                    }
                }
                Column::Multi(col) => {
                    let mut mask = 0u16;
                    for &code in &f.allowed {
                        check(f.field, code)?;
                        mask |= 1 << code;
                    }
                    plan.multi_filters.push((col.as_slice(), mask));
                }
            }
        }
        for ((_, lut), field) in plan.singles.iter().zip(&single_fields) {
            if let ZoneStats::Single { min, max } = &self.zones[field.index() as usize] {
                let mut passing = Box::new([0u16; 257]);
                for (code, &v) in lut.iter().enumerate() {
                    passing[code + 1] = passing[code] + u16::from(v < INVALID);
                }
                plan.prunes.push(Prune::Single { min, max, passing });
            }
        }
        let multis = plan
            .multi_groups
            .iter()
            .map(|(col, bits)| {
                let needed = (0..15)
                    .filter(|&b| bits[b] != INVALID)
                    .fold(0u16, |m, b| m | 1 << b);
                (*col, needed)
            })
            .chain(plan.multi_filters.iter().copied());
        for (col, needed) in multis {
            let field = Field::ALL
                .iter()
                .zip(&self.columns)
                .find_map(|(f, c)| match c {
                    Column::Multi(v) if std::ptr::eq(v.as_slice(), col) => Some(*f),
                    _ => None,
                });
            if let Some(ZoneStats::Multi { union }) = field.map(|f| &self.zones[f.index() as usize])
            {
                plan.prunes.push(Prune::Multi { union, needed });
            }
        }
        Ok(plan)
    }
}

impl Plan<'_> {
    /// The rows of the zones that may hold a matching case, as merged ranges.
    fn live_ranges(&self, len: usize) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = Vec::new();
        for zone in 0..len.div_ceil(ZONE) {
            if !self.prunes.iter().all(|p| p.may_match(zone)) {
                continue;
            }
            let rows = zone * ZONE..((zone + 1) * ZONE).min(len);
            match ranges.last_mut() {
                Some(last) if last.end == rows.start => last.end = rows.end,
                _ => ranges.push(rows),
            }
        }
        ranges
    }

    /// Counts the rows of `ranges` into `counts` (`cells + 1` slots: the last
    /// one collects the rows that fall in no cell, so the hot loop has no branch).
    ///
    /// A multi-valued grouping puts a case in one cell per value it has.
    /// Visiting those values row by row is a short, unpredictable loop (about
    /// 9 ns a row); with one such grouping, `byte_histograms` instead counts
    /// each row once in two histograms per cell of the other dimensions, one
    /// keyed by the low byte of its values and one by the high byte, without
    /// a branch, and spreads the histograms over the values at the end.
    fn run(&self, ranges: &[Range<usize>], counts: &mut [u64]) {
        let cells = self.cells;
        let counts = &mut counts[..=cells];
        // With few cells, consecutive rows often hit the same counter and each
        // increment waits for the previous one; four interleaved copies of the
        // histogram break that dependency chain.
        let lanes_used = self.multi_groups.is_empty() && cells <= 4096;
        let width = cells + 1;
        let mut lanes = if lanes_used {
            vec![0u64; 4 * width]
        } else {
            Vec::new()
        };
        let mut hist = if self.byte_histograms {
            vec![0u32; width * HIST_WIDTH]
        } else {
            Vec::new()
        };
        let mut idx = [0u32; BLOCK];
        for &Range { start, end } in ranges {
            let mut lo = start;
            while lo < end {
                let hi = (lo + BLOCK).min(end);
                let idx = &mut idx[..hi - lo];
                match self.singles.split_first() {
                    Some(((col, lut), rest)) => {
                        for (slot, &code) in idx.iter_mut().zip(&col[lo..hi]) {
                            *slot = lut[usize::from(code)];
                        }
                        for (col, lut) in rest {
                            for (slot, &code) in idx.iter_mut().zip(&col[lo..hi]) {
                                *slot += lut[usize::from(code)];
                            }
                        }
                    }
                    None => idx.fill(0),
                }
                for (col, mask) in &self.multi_filters {
                    for (slot, &v) in idx.iter_mut().zip(&col[lo..hi]) {
                        let rejected = (v & KNOWN == 0) | (v & mask == 0);
                        *slot |= u32::from(rejected) * INVALID;
                    }
                }
                if lanes_used {
                    let (l0, rest) = lanes.split_at_mut(width);
                    let (l1, rest) = rest.split_at_mut(width);
                    let (l2, l3) = rest.split_at_mut(width);
                    let mut quads = idx.chunks_exact(4);
                    for q in &mut quads {
                        l0[(q[0] as usize).min(cells)] += 1;
                        l1[(q[1] as usize).min(cells)] += 1;
                        l2[(q[2] as usize).min(cells)] += 1;
                        l3[(q[3] as usize).min(cells)] += 1;
                    }
                    for &i in quads.remainder() {
                        l0[(i as usize).min(cells)] += 1;
                    }
                } else if self.multi_groups.is_empty() {
                    for &i in idx.iter() {
                        counts[(i as usize).min(cells)] += 1;
                    }
                } else if let (true, Some((col, _))) =
                    (self.byte_histograms, self.multi_groups.first())
                {
                    for (&base, &v) in idx.iter().zip(&col[lo..hi]) {
                        let at = (base as usize).min(cells) * HIST_WIDTH;
                        hist[at + usize::from(v & 0xff)] += 1;
                        hist[at + 256 + usize::from((v >> 8) & 0x7f)] += 1;
                    }
                } else {
                    for (j, &base) in idx.iter().enumerate() {
                        if (base as usize) < cells {
                            self.expand(lo + j, 0, base, counts);
                        }
                    }
                }
                lo = hi;
            }
        }
        for lane in lanes.chunks_exact(width) {
            for (c, x) in counts.iter_mut().zip(lane) {
                *c += x;
            }
        }
        if let (true, Some((_, bits))) = (self.byte_histograms, self.multi_groups.first()) {
            // The last row of histograms is the rows in no cell: skipped.
            for (base, row) in hist.chunks_exact(HIST_WIDTH).take(cells).enumerate() {
                let (low, high) = row.split_at(256);
                for (first_bit, part) in [(0usize, low), (8, high)] {
                    for (byte, &n) in part.iter().enumerate() {
                        let mut rest = byte;
                        while n != 0 && rest != 0 {
                            let bit = first_bit + rest.trailing_zeros() as usize;
                            rest &= rest - 1;
                            if bits[bit] != INVALID {
                                counts[base + bits[bit] as usize] += u64::from(n);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds one case to every cell of its multi-valued values (cartesian product).
    fn expand(&self, row: usize, depth: usize, base: u32, counts: &mut [u64]) {
        let Some((col, bits)) = self.multi_groups.get(depth) else {
            counts[base as usize] += 1;
            return;
        };
        let v = col[row];
        if v & KNOWN == 0 {
            return;
        }
        let mut rest = v & !KNOWN;
        while rest != 0 {
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let off = bits[bit];
            if off != INVALID {
                self.expand(row, depth + 1, base + off, counts);
            }
        }
    }
}

/// The current snapshot, swapped atomically when a new data version is loaded.
/// Readers never wait: they take an `Arc` (lock-free) and keep using it even
/// if a newer snapshot arrives meanwhile.
#[derive(Debug)]
pub struct SnapshotCell(arc_swap::ArcSwap<Snapshot>);

impl SnapshotCell {
    pub fn new(s: Snapshot) -> Self {
        SnapshotCell(arc_swap::ArcSwap::from_pointee(s))
    }

    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    pub fn replace(&self, s: Snapshot) {
        self.0.store(Arc::new(s));
    }
}

mod rows;
#[cfg(test)]
mod tests;

pub use rows::row_bytes;
