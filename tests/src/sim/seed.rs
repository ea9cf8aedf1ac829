//! Seeds: `SIM_SEED=…` to replay a run, and printing the seed of a failure.

/// The seed to use: `SIM_SEED` from the environment if set (decimal or
/// `0x…` hex), else `default`.
pub fn seed_or_env(default: u64) -> u64 {
    match std::env::var("SIM_SEED") {
        Ok(text) => parse_seed(&text).unwrap_or_else(|| panic!("SIM_SEED={text:?} is not a u64")),
        Err(_) => default,
    }
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Prints `SIM_SEED=<seed>` if the thread panics while the guard lives, so
/// that a failing run can be replayed exactly.
#[derive(Debug)]
pub struct SeedGuard {
    seed: u64,
}

impl SeedGuard {
    /// Watches the current thread for a panic.
    pub fn new(seed: u64) -> Self {
        SeedGuard { seed }
    }
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("simulation failed; replay with SIM_SEED={}", self.seed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0xff "), Some(255));
        assert_eq!(parse_seed("x"), None);
    }
}
