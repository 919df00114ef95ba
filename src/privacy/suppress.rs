//! Suppression and post-processing of noisy counts.
//!
//! Invariant: these functions only ever see *noisy* values. They take a
//! [`NoisyCount`], which only a [`CountMechanism`](super::CountMechanism) can
//! make, so a true count cannot reach the threshold or the rounding by
//! mistake: that would not compile. Because everything here is a function of
//! the noisy release alone, it is post-processing and costs no privacy.
//!
//! # Order: noise → suppress → clamp → round
//! - **Suppress** first, on the exact noisy value: a cell is withheld when
//!   `noisy < k`. Deciding before rounding keeps the rule exactly the one
//!   documented to consumers ("noisy count below k"), independent of the
//!   rounding base, and keeps the probability of suppression a simple tail of
//!   the noise distribution. (A true count `k - 1` is released with
//!   probability `P(noise >= 1)`; a true count `k` is withheld with
//!   probability `P(noise <= -1)`.)
//! - **Clamp** negative released values to zero. With `k >= 1` every released
//!   value is already at least `k`, so clamping only matters when `k = 0`.
//! - **Round** to a multiple of the base, half up (towards +∞): with base 10,
//!   `14 → 10`, `15 → 20`, `-5 → 0`; with base 5, `12 → 10`, `13 → 15`.
//!   A released value can round below `k` (base 10, `k = 11`, `12 → 10`);
//!   that is still an honest post-processed value of a cell that passed the
//!   threshold. Rounding moves a value by at most `floor(base / 2)`, which a
//!   caller may add to the margin of error of rounded cells.

use std::num::NonZeroU32;

/// A count with noise from a [`CountMechanism`](super::CountMechanism)
/// already added. There is deliberately no public constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoisyCount(i64);

impl NoisyCount {
    /// Only mechanisms add noise.
    pub(super) const fn new(noisy: i64) -> Self {
        Self(noisy)
    }

    /// The noisy value (may be negative).
    pub const fn value(self) -> i64 {
        self.0
    }
}

/// A released cell: a number, or withheld because its noisy count was below k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cell {
    /// The (noisy, possibly post-processed) count.
    Released(i64),
    /// The noisy count was below k; no number is shown.
    Suppressed,
}

/// The noisy-threshold rule: [`Cell::Suppressed`] when `noisy < k`, else the
/// noisy value. Never call this with a true count; the type prevents it.
pub fn suppress(noisy: NoisyCount, k: u64) -> Cell {
    if i128::from(noisy.value()) < i128::from(k) {
        Cell::Suppressed
    } else {
        Cell::Released(noisy.value())
    }
}

/// Optional post-processing of released noisy values (policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostProcess {
    /// Show negative noisy values as zero.
    pub clamp_at_zero: bool,
    /// Round to a multiple of this base, half up.
    pub round_to: Option<NonZeroU32>,
}

impl PostProcess {
    /// No post-processing.
    pub const NONE: Self = Self {
        clamp_at_zero: false,
        round_to: None,
    };

    /// Clamps then rounds a released cell; a suppressed cell stays suppressed.
    pub fn apply(&self, cell: Cell) -> Cell {
        let Cell::Released(mut value) = cell else {
            return Cell::Suppressed;
        };
        if self.clamp_at_zero {
            value = value.max(0);
        }
        if let Some(base) = self.round_to {
            value = round_half_up(value, base);
        }
        Cell::Released(value)
    }
}

/// `value` rounded to the nearest multiple of `base`, ties towards +∞. If the
/// upper multiple would not fit in `i64`, the lower one is used.
fn round_half_up(value: i64, base: NonZeroU32) -> i64 {
    let base = i128::from(base.get());
    let rounded = (i128::from(value) + base / 2).div_euclid(base) * base;
    i64::try_from(rounded).unwrap_or_else(|_| {
        // Only reachable within `base` of i64::MAX: take the multiple below.
        let lower = i128::from(value).div_euclid(base) * base;
        i64::try_from(lower).unwrap_or(value)
    })
}

/// The whole per-cell rule in its documented order: suppress at `k` on the
/// noisy value, then clamp and round as `post` says.
pub fn release_cell(noisy: NoisyCount, k: u64, post: &PostProcess) -> Cell {
    post.apply(suppress(noisy, k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(b: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(b)
    }

    #[test]
    fn cells_below_k_are_suppressed_on_their_noisy_value() {
        assert_eq!(suppress(NoisyCount::new(9), 10), Cell::Suppressed);
        assert_eq!(suppress(NoisyCount::new(10), 10), Cell::Released(10));
        assert_eq!(suppress(NoisyCount::new(-3), 0), Cell::Suppressed);
        assert_eq!(suppress(NoisyCount::new(0), 0), Cell::Released(0));
        assert_eq!(
            suppress(NoisyCount::new(i64::MAX), u64::MAX),
            Cell::Suppressed
        );
    }

    #[test]
    fn rounding_is_half_up_to_the_base() {
        let ten = PostProcess {
            clamp_at_zero: false,
            round_to: base(10),
        };
        for (v, r) in [(14, 10), (15, 20), (0, 0), (-5, 0), (-6, -10), (-15, -10)] {
            assert_eq!(ten.apply(Cell::Released(v)), Cell::Released(r), "{v}");
        }
        let five = PostProcess {
            clamp_at_zero: false,
            round_to: base(5),
        };
        for (v, r) in [(12, 10), (13, 15), (2, 0), (3, 5)] {
            assert_eq!(five.apply(Cell::Released(v)), Cell::Released(r), "{v}");
        }
        assert_eq!(
            ten.apply(Cell::Released(i64::MAX)),
            Cell::Released(i64::MAX - 7)
        );
    }

    #[test]
    fn clamping_then_rounding_applies_to_released_cells_only() {
        let post = PostProcess {
            clamp_at_zero: true,
            round_to: base(5),
        };
        assert_eq!(post.apply(Cell::Released(-4)), Cell::Released(0));
        assert_eq!(post.apply(Cell::Suppressed), Cell::Suppressed);
        assert_eq!(
            PostProcess::NONE.apply(Cell::Released(-4)),
            Cell::Released(-4)
        );
        // Suppression is decided on the exact noisy value, before rounding:
        // 8 rounds to 10 but is below k = 10, so it is withheld.
        assert_eq!(
            release_cell(NoisyCount::new(8), 10, &post),
            Cell::Suppressed
        );
        assert_eq!(
            release_cell(NoisyCount::new(12), 10, &post),
            Cell::Released(10)
        );
    }
}
