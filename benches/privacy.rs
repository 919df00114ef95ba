//! Sampling throughput of the exact samplers and the cost of noising a
//! 10,000-cell histogram.
//!
//! Run: `cargo bench --bench privacy -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ctm_stats::domain::budget::{Epsilon, Rho};
use ctm_stats::privacy::sample::{discrete_gaussian, discrete_laplace};
use ctm_stats::privacy::{
    CountMechanism, NoiseKey, PostProcess, Rational, keyed_rng, release_cell,
};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

/// Draws per iteration, so that per-draw costs are measured over many draws.
const BATCH: u64 = 1_000;

fn laplace_draws(c: &mut Criterion) {
    let mut group = c.benchmark_group("discrete_laplace");
    group.throughput(Throughput::Elements(BATCH));
    for scale in [1u64, 10, 100] {
        let scale = Rational::integer(scale);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        group.bench_with_input(BenchmarkId::new("scale", scale), &scale, |b, &scale| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(discrete_laplace(&mut rng, scale).ok());
                }
            });
        });
    }
    // A scale that does not reduce (ε = 0.123457): large numerator and denominator.
    let odd = Rational::new(1_000_000, 123_457).ok();
    if let Some(scale) = odd {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        group.bench_with_input(BenchmarkId::new("scale", scale), &scale, |b, &scale| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(discrete_laplace(&mut rng, scale).ok());
                }
            });
        });
    }
    group.finish();
}

fn gaussian_draws(c: &mut Criterion) {
    let mut group = c.benchmark_group("discrete_gaussian");
    group.throughput(Throughput::Elements(BATCH));
    for sigma in [1u64, 10, 100] {
        let sigma_squared = Rational::integer(sigma * sigma);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        group.bench_with_input(
            BenchmarkId::new("sigma", sigma),
            &sigma_squared,
            |b, &s2| {
                b.iter(|| {
                    for _ in 0..BATCH {
                        black_box(discrete_gaussian(&mut rng, s2).ok());
                    }
                });
            },
        );
    }
    group.finish();
}

fn histogram(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram_10k_cells");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(20);
    let counts: Vec<u64> = (0..10_000u64).map(|i| (i * 7919) % 500).collect();
    let key = NoiseKey::from_bytes(&[7u8; 32]).ok();
    let laplace = Epsilon::parse_decimal("0.5")
        .ok()
        .and_then(|e| CountMechanism::discrete_laplace(e, 1).ok());
    let gaussian = Rho::parse_decimal("0.5")
        .ok()
        .and_then(|r| CountMechanism::discrete_gaussian(r, 1).ok());
    let post = PostProcess {
        clamp_at_zero: true,
        round_to: std::num::NonZeroU32::new(5),
    };
    let data = ctm_stats::domain::DataIdentity {
        store_id: "bench".into(),
        version: 1,
        digest: ctm_stats::domain::ContentDigest::from_bytes([0; 32]),
    };
    for (name, mechanism) in [("laplace_eps_0.5", laplace), ("gaussian_rho_0.5", gaussian)] {
        let (Some(mechanism), Some(key)) = (mechanism, key.as_ref()) else {
            continue;
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut rng = keyed_rng(key, "bench", b"query", &data);
                let noisy = mechanism.noise_counts(black_box(&counts), &mut rng).ok();
                let cells: Vec<_> = noisy
                    .into_iter()
                    .flatten()
                    .map(|n| release_cell(n, 10, &post))
                    .collect();
                black_box(cells)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, laplace_draws, gaussian_draws, histogram);
criterion_main!(benches);
