//! Human-readable figures.

/// `612 ns`, `4.31 µs`, `1.25 ms`, `2.10 s`.
pub fn nanos(ns: f64) -> String {
    let (value, unit) = match ns {
        n if n >= 1e9 => (n / 1e9, "s"),
        n if n >= 1e6 => (n / 1e6, "ms"),
        n if n >= 1e3 => (n / 1e3, "µs"),
        n => (n, "ns"),
    };
    format!("{} {unit}", three_digits(value))
}

/// `1.63 M/s`, `45.2 k/s`, `830 /s`.
pub fn calls_per_second(rate: f64) -> String {
    let (value, unit) = match rate {
        r if r >= 1e6 => (r / 1e6, "M/s"),
        r if r >= 1e3 => (r / 1e3, "k/s"),
        r => (r, "/s"),
    };
    format!("{} {unit}", three_digits(value))
}

/// A factor with two decimals: `1.25x`.
pub fn factor(f: f64) -> String {
    format!("{f:.2}x")
}

/// Three significant digits for values from 1 to 999.
fn three_digits(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_naturally() {
        assert_eq!(nanos(612.4), "612 ns");
        assert_eq!(nanos(4_312.0), "4.31 µs");
        assert_eq!(nanos(1_250_000.0), "1.25 ms");
        assert_eq!(calls_per_second(1_630_000.0), "1.63 M/s");
        assert_eq!(calls_per_second(45_210.0), "45.2 k/s");
        assert_eq!(factor(0.8), "0.80x");
    }
}
