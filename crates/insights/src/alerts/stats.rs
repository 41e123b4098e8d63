//! The statistics the detector needs: robust location and scale of small windows, the
//! count test (negative binomial), the money test (normal on a log scale), and
//! Benjamini–Hochberg.

use statrs::distribution::{ChiSquared, ContinuousCDF, DiscreteCDF, NegativeBinomial, StudentsT};
use statrs::function::erf::erfc;

/// 1 / Φ⁻¹(3/4): scales a median absolute deviation to a normal standard deviation.
pub const MAD_TO_SD: f64 = 1.4826;

/// Φ⁻¹(0.975): the half-width of a 95 % interval in standard deviations.
pub const Z95: f64 = 1.959_964;

/// Above these sizes the incomplete beta behind the exact negative binomial tail stops
/// converging in statrs' 140 iterations; the count is then large enough for the
/// log-normal approximation of the gamma–Poisson to be accurate.
const EXACT_MAX_COUNT: f64 = 5_000.0;

/// Two-sided normal p-value of a z-score.
pub fn normal_two_sided(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// Two-sided Student-t p-value of `t` with `df` degrees of freedom: a z-score whose scale
/// was itself estimated from a short window.
pub fn t_two_sided(t: f64, df: f64) -> f64 {
    match StudentsT::new(0.0, 1.0, df) {
        Ok(dist) => (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
        Err(_) => normal_two_sided(t),
    }
}

/// The factor that turns a variance estimated with `df` degrees of freedom into its upper
/// 80 % confidence bound, df / χ²₀.₂(df): count tests use the bound, so an overdispersion
/// that happens to come out low over four weeks does not make the test overconfident.
pub fn variance_upper_bound_factor(df: f64) -> f64 {
    ChiSquared::new(df)
        .map(|c| df / c.inverse_cdf(0.2))
        .unwrap_or(1.0)
}

/// Lower and upper tail probabilities P(X ≤ x) and P(X ≥ x) of a count with mean `mu` and
/// overdispersion `alpha` (Var = μ + αμ², the gamma–Poisson): exact below
/// [`EXACT_MAX_COUNT`], log-normal above.
pub fn nb_tails(x: u64, mu: f64, alpha: f64) -> (f64, f64) {
    let xf = x as f64;
    if xf > EXACT_MAX_COUNT || mu > EXACT_MAX_COUNT {
        let sd = log_count_sd(mu, alpha);
        let z = ((xf + 0.5).ln() - (mu + 0.5).ln()) / sd;
        let upper = 0.5 * erfc(z / std::f64::consts::SQRT_2);
        return (1.0 - upper, upper);
    }
    match negative_binomial(mu, alpha) {
        Some(nb) => {
            let lower = nb.cdf(x);
            let upper = if x == 0 { 1.0 } else { nb.sf(x - 1) };
            (lower.clamp(0.0, 1.0), upper.clamp(0.0, 1.0))
        }
        None => (1.0, 1.0),
    }
}

/// The two-sided p-value of count `x` (twice the smaller tail, at most 1).
pub fn nb_two_sided(x: u64, mu: f64, alpha: f64) -> f64 {
    let (lo, hi) = nb_tails(x, mu, alpha);
    (2.0 * lo.min(hi)).min(1.0)
}

/// P(X = 0) of the gamma–Poisson: (1 + αμ)^(−1/α).
pub fn nb_zero(mu: f64, alpha: f64) -> f64 {
    (-(alpha * mu).ln_1p() / alpha).exp()
}

/// The 95 % interval of the count, as (2.5 %, 97.5 %) quantiles.
pub fn nb_interval(mu: f64, alpha: f64) -> (f64, f64) {
    if mu > EXACT_MAX_COUNT {
        let sd = log_count_sd(mu, alpha);
        let lo = (mu + 0.5) * (-Z95 * sd).exp() - 0.5;
        let hi = (mu + 0.5) * (Z95 * sd).exp() - 0.5;
        return (lo.max(0.0), hi);
    }
    match negative_binomial(mu, alpha) {
        Some(nb) => (nb.inverse_cdf(0.025) as f64, nb.inverse_cdf(0.975) as f64),
        None => (0.0, 0.0),
    }
}

/// Sampling variance of ln(X + ½) for a Poisson count of mean μ (delta method, kept
/// below 1/μ at small μ where the ½ offset compresses the log).
pub fn log_count_sampling_var(mu: f64) -> f64 {
    let mu = mu.max(0.0);
    mu / ((mu + 0.5) * (mu + 0.5))
}

/// Standard deviation of ln(X + ½) of a gamma–Poisson count.
fn log_count_sd(mu: f64, alpha: f64) -> f64 {
    (log_count_sampling_var(mu) + alpha).sqrt().max(1e-6)
}

fn negative_binomial(mu: f64, alpha: f64) -> Option<NegativeBinomial> {
    if !(mu > 0.0 && alpha > 0.0 && mu.is_finite() && alpha.is_finite()) {
        return None;
    }
    let r = 1.0 / alpha;
    NegativeBinomial::new(r, r / (r + mu)).ok()
}

/// Benjamini–Hochberg adjusted p-values (q-values) of `p`, in the same order:
/// q₍ᵢ₎ = min over j ≥ i of m·p₍ⱼ₎ / j, capped at 1. `order` is scratch space.
pub fn benjamini_hochberg(p: &[f64], order: &mut Vec<usize>, q: &mut Vec<f64>) {
    order.clear();
    order.extend(0..p.len());
    order.sort_unstable_by(|&a, &b| p[a].total_cmp(&p[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| p[i]).collect();
    let mut adjusted = vec![1.0; p.len()];
    bh_sorted(&sorted, p.len(), &mut adjusted);
    q.clear();
    q.resize(p.len(), 1.0);
    for (rank, &i) in order.iter().enumerate() {
        q[i] = adjusted[rank];
    }
}

/// Benjamini–Hochberg over the `sorted.len()` smallest of `m` p-values (ascending): the
/// others are only counted. When every left-out p-value exceeds a cutoff c, the q-values
/// at most c are exact (each left-out term m·p₍ⱼ₎/j ≥ p₍ⱼ₎ > c cannot lower them); the
/// others are upper bounds.
pub fn bh_sorted(sorted: &[f64], m: usize, q: &mut [f64]) {
    let m = m.max(sorted.len()) as f64;
    let mut running = 1.0_f64;
    for rank in (0..sorted.len()).rev() {
        let adjusted = sorted[rank] * m / (rank + 1) as f64;
        running = running.min(adjusted).min(1.0);
        q[rank] = running;
    }
}
