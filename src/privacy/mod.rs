//! Exact discrete noise, sensitivity, suppression and accuracy: the
//! mathematical core of every release. Pure code, no I/O.
//!
//! # Layout
//! - [`sample`]: exact samplers (uniform, Bernoulli, `Bernoulli(exp(-x))`,
//!   geometric, discrete Laplace, discrete Gaussian) in integer arithmetic,
//!   after Canonne, Kamath and Steinke (2020).
//! - [`rng`]: where randomness comes from: [`keyed_rng`] for deterministic
//!   releases (and why that is safe), [`os_rng`] otherwise.
//! - [`mechanism`]: [`CountMechanism`], which carries its noise function and
//!   its privacy cost together.
//! - [`sensitivity`]: L1 and squared L2 sensitivity from the query's shape.
//! - [`suppress`](mod@suppress): the noisy-threshold rule and post-processing.
//! - [`accuracy`]: margins of error and the ε or ρ for a target margin.
//! - [`consistency`]: one consistent, non-negative integer set of tables
//!   from independent noisy tables (post-processing), with exact variances.
//! - [`rational`]: exact noise parameters.
//!
//! # A release, cell by cell
//! ```text
//! sensitivity  = l1_sensitivity(&dims, max_cases)              (query shape + policy)
//! mechanism    = CountMechanism::discrete_laplace(ε, sensitivity)
//! rng          = keyed_rng(&key, dataset, canonical_query, &data_identity)
//! noisy        = mechanism.noise_counts(&true_counts, &mut rng)   (every cell, zeros too)
//! cells        = noisy.map(|n| release_cell(n, k, &post))         (suppress → clamp → round)
//! margin       = mechanism.margin_of_error(confidence)            (no data involved)
//! ```
//!
//! Invariant: true counts enter only [`CountMechanism::noise_counts`]; all
//! later steps take [`NoisyCount`], which nothing else can construct.

pub mod accuracy;
pub mod complement;
pub mod consistency;
pub mod mechanism;
pub mod rational;
pub mod rng;
pub mod sample;
pub mod sensitivity;
pub mod suppress;

pub use accuracy::{
    Confidence, epsilon_for_margin, gaussian_margin, laplace_margin, laplace_tail, rho_for_margin,
};
pub use mechanism::{CountMechanism, DiscreteGaussian, DiscreteLaplace, NoiseScale, PrivacyCost};
pub use rational::Rational;
pub use rng::{NoiseKey, keyed_rng, os_rng};
pub use sensitivity::{DimShape, l1_sensitivity, l2_sensitivity_squared};
pub use suppress::{Cell, NoisyCount, PostProcess, release_cell, suppress};

use thiserror::Error;

/// Why noise could not be drawn or a parameter was refused. Any of these stops
/// the release: nothing is published and nothing should be charged.
#[derive(Debug, Error)]
pub enum PrivacyError {
    /// The operating system's random source failed. Never answered with
    /// zero or predictable noise.
    #[error("the system random number generator failed")]
    Entropy(#[from] rand::rngs::SysError),
    /// A computation would not fit in 64 bits (sensitivity, scale, a draw, a
    /// margin). Names what overflowed.
    #[error("arithmetic overflow in {0}")]
    Overflow(&'static str),
    /// A parameter that no mechanism accepts. Names the offending value.
    #[error("invalid privacy parameter: {0}")]
    InvalidParameter(&'static str),
}
