use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() < tol
}

#[test]
fn distributions_match_their_tables() {
    assert!(close(normal_quantile(0.975), 1.959_964, 1e-5));
    assert!(close(normal_quantile(0.5), 0.0, 1e-9));
    assert!(close(normal_quantile(0.01), -2.326_348, 1e-5));
    assert!(close(t_quantile(0.975, 10.0), 2.228_139, 1e-5));
    assert!(close(t_quantile(0.95, 3.0), 2.353_363, 1e-5));
    assert!(close(t_quantile(0.7, 5.0), 0.559_430, 1e-5));
    assert!(close(t_cdf(2.228_139, 10.0), 0.975, 1e-6));
    assert!(close(t_cdf(-1.0, 4.0), 0.186_950, 1e-5));
}

fn plan() -> Plan {
    Plan {
        minimize: true,
        threshold: 0.005,
        confidence: 0.95,
        max_samples: 20,
        compared: 4,
    }
}

/// Deterministic "noise": a fixed pattern of relative deviations.
fn noisy(center: f64, n: usize, offset: usize) -> Vec<f64> {
    const Z: [f64; 10] = [0.3, -1.1, 0.8, -0.2, 1.4, -0.7, 0.1, -1.6, 0.9, 0.1];
    (0..n)
        .map(|i| center * (1.0 + 0.02 * Z[(i + offset) % Z.len()]))
        .collect()
}

#[test]
fn a_clear_gain_is_kept_and_a_slowdown_is_futile() {
    let incumbent = noisy(100.0, 12, 0);
    let gain = look(&plan(), &incumbent, &noisy(90.0, 12, 3));
    assert_eq!(gain.verdict, StatVerdict::Keep);
    assert!(
        gain.interval[0] < -5.0 && gain.interval[1] < 0.0,
        "{gain:?}"
    );
    assert!(gain.confidence > 0.99);
    let slower = look(&plan(), &noisy(100.0, 4, 0), &noisy(103.0, 4, 5));
    assert_eq!(slower.verdict, StatVerdict::Futile);
}

#[test]
fn early_looks_need_more_evidence_than_late_ones() {
    // The same 2% gain: not enough at the third sample, enough at the 20th.
    let early = look(&plan(), &noisy(100.0, 3, 0), &noisy(98.0, 3, 0));
    assert_eq!(early.verdict, StatVerdict::Open);
    let late = look(&plan(), &noisy(100.0, 20, 0), &noisy(98.0, 20, 0));
    assert_eq!(late.verdict, StatVerdict::Keep);
}

#[test]
fn undecided_at_max_samples_is_inconclusive() {
    let p = Plan {
        max_samples: 4,
        ..plan()
    };
    // About 2% better: short of the boundary, yet not hopeless.
    let r = look(&p, &noisy(100.0, 4, 0), &noisy(97.0, 4, 2));
    assert_eq!(r.verdict, StatVerdict::Inconclusive);
    // Barely better: it could not clear the boundary by max_samples.
    let r = look(&p, &noisy(100.0, 4, 0), &noisy(99.4, 4, 2));
    assert_eq!(r.verdict, StatVerdict::Futile);
}

#[test]
fn noiseless_measurements_decide_at_once() {
    let keep = look(&plan(), &[100.0, 100.0, 100.0], &[90.0, 90.0, 90.0]);
    assert_eq!(keep.verdict, StatVerdict::Keep);
    let no = look(&plan(), &[100.0, 100.0, 100.0], &[99.9, 99.9, 99.9]);
    assert_eq!(no.verdict, StatVerdict::Futile);
}
