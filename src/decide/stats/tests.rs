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

/// The Python-Markdown case: a busy machine moves both sides of a round
/// together by far more than the gain, so Welch's test, blind to rounds,
/// sees nothing, while the candidate is faster in every paired round.
#[test]
fn faster_in_every_paired_round_is_kept_despite_drift_between_rounds() {
    let drift = [1.0, 1.9, 1.2, 2.6, 1.1, 1.5, 3.0, 1.3, 2.2, 1.0, 1.7, 2.4];
    let rounds = drift.len();
    let incumbent: Vec<f64> = (0..rounds).map(|r| 100.0 * drift[r]).collect();
    let jitter = noisy(1.0, rounds, 0);
    let candidate: Vec<f64> = (0..rounds)
        .map(|r| 92.0 * drift[r] * (1.0 + (jitter[r] - 1.0) * 0.1))
        .collect();
    let differences: Vec<f64> = (0..rounds).map(|r| candidate[r] - incumbent[r]).collect();
    let welch = look(&plan(), &incumbent, &candidate);
    assert_ne!(welch.verdict, StatVerdict::Keep, "{welch:?}");
    let paired = look_paired(&plan(), &incumbent, &candidate, &differences);
    assert_eq!(paired.verdict, StatVerdict::Keep, "{paired:?}");
    // The interval reported is the paired one: tight around -8% of the mean.
    assert!(paired.interval[1] < 0.0 && paired.interval[0] > -0.2 * paired.incumbent_mean);
}

/// Pairing never makes a change that does nothing look like a gain: with
/// the same drift and no effect, the union stays short of a keep.
#[test]
fn no_effect_under_drift_is_not_kept_by_the_paired_test() {
    let drift = [1.0, 1.9, 1.2, 2.6, 1.1, 1.5, 3.0, 1.3, 2.2, 1.0, 1.7, 2.4];
    let a = noisy(1.0, drift.len(), 0);
    let b = noisy(1.0, drift.len(), 5);
    let incumbent: Vec<f64> = drift.iter().zip(&a).map(|(d, z)| 100.0 * d * z).collect();
    let candidate: Vec<f64> = drift.iter().zip(&b).map(|(d, z)| 100.0 * d * z).collect();
    let differences: Vec<f64> = candidate
        .iter()
        .zip(&incumbent)
        .map(|(c, i)| c - i)
        .collect();
    let paired = look_paired(&plan(), &incumbent, &candidate, &differences);
    assert_ne!(paired.verdict, StatVerdict::Keep, "{paired:?}");
}
