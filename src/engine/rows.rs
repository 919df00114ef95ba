//! The rows of a snapshot as bytes, so a restart reads them back instead of
//! rebuilding them from the store (see `crate::snapshots` for the file, its
//! key and its verification).
//!
//! Layout: every column in [`Field::ALL`] order, rows in the snapshot's
//! stored (clustered) order; a single-valued column as one byte per row, a
//! multi-valued one as a little-endian `u16` per row. Nothing else: zones
//! and the content digest are recomputed from the rows when they are read,
//! so a snapshot read back is the one written, or a different digest says
//! it is not.

use super::{Column, Snapshot, content_digest, zone_stats};
use crate::domain::{DataIdentity, Field, FieldKind};
use std::io::{self, Read, Write};
use std::sync::atomic::AtomicU64;

/// Bytes per row of the layout.
pub fn row_bytes() -> usize {
    Field::ALL
        .iter()
        .map(|f| match f.kind() {
            FieldKind::Single => 1,
            FieldKind::Multi => 2,
        })
        .sum()
}

impl Snapshot {
    /// Writes the rows in the layout of this module.
    pub fn write_rows(&self, out: &mut impl Write) -> io::Result<()> {
        let mut buf = Vec::new();
        for col in &self.columns {
            match col {
                Column::Single(v) => out.write_all(v)?,
                Column::Multi(v) => {
                    for chunk in v.chunks(1 << 16) {
                        buf.clear();
                        buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
                        out.write_all(&buf)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads `len` rows written by [`Snapshot::write_rows`] as the snapshot
    /// of `store_id` at `data_version`. Its identity's digest is computed
    /// from what was read; the caller compares it with what it expects.
    pub fn read_rows(
        input: &mut impl Read,
        len: usize,
        store_id: &str,
        data_version: i64,
    ) -> io::Result<Snapshot> {
        let mut columns = Vec::with_capacity(Field::ALL.len());
        let mut buf = Vec::new();
        for field in Field::ALL {
            columns.push(match field.kind() {
                FieldKind::Single => {
                    let mut v = vec![0u8; len];
                    input.read_exact(&mut v)?;
                    Column::Single(v)
                }
                FieldKind::Multi => {
                    let mut v = Vec::with_capacity(len);
                    let mut left = len;
                    while left > 0 {
                        let take = left.min(1 << 16);
                        buf.resize(2 * take, 0);
                        input.read_exact(&mut buf)?;
                        v.extend(
                            buf.chunks_exact(2)
                                .map(|b| u16::from_le_bytes([b[0], b[1]])),
                        );
                        left -= take;
                    }
                    Column::Multi(v)
                }
            });
        }
        let zones = columns.iter().map(zone_stats).collect();
        let digest = content_digest(&columns, len);
        Ok(Snapshot {
            identity: DataIdentity {
                store_id: store_id.to_owned(),
                version: data_version,
                digest,
            },
            evaluations: AtomicU64::new(0),
            len,
            columns,
            zones,
        })
    }
}
