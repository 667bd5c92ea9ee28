//! What a run's model calls spend, against `budget.max_usd` and
//! `budget.max_tokens`: every call (hypotheses, edits, judge, learnings) is
//! counted when it returns, and none starts once a cap is reached. Calls
//! already in flight finish, so a run overshoots by at most those.

use std::sync::Mutex;

use crate::spec::Budget;

pub struct Spend {
    budget: Budget,
    /// Dollars and tokens, earlier sessions included.
    totals: Mutex<(f64, u64)>,
}

impl Spend {
    pub fn new(budget: &Budget) -> Spend {
        Spend {
            budget: budget.clone(),
            totals: Mutex::new((0.0, 0)),
        }
    }

    fn totals_mut(&self) -> std::sync::MutexGuard<'_, (f64, u64)> {
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a call (or what earlier sessions spent).
    pub fn add(&self, usd: f64, tokens: u64) {
        let mut t = self.totals_mut();
        t.0 += usd;
        t.1 += tokens;
    }

    /// Dollars and tokens so far.
    pub fn totals(&self) -> (f64, u64) {
        *self.totals_mut()
    }

    /// Why no new call may start, if a cap is reached.
    pub fn reached(&self) -> Option<String> {
        exceeded(&self.budget, self.totals())
    }
}

/// Which cap `spent` (dollars, tokens) has reached, in words.
pub fn exceeded(budget: &Budget, (usd, tokens): (f64, u64)) -> Option<String> {
    if let Some(max) = budget.max_usd
        && usd >= max
    {
        return Some(format!(
            "the budget is spent: ${usd:.4} of budget.max_usd ${max}"
        ));
    }
    if let Some(max) = budget.max_tokens
        && tokens >= max
    {
        return Some(format!(
            "the budget is spent: {tokens} tokens of budget.max_tokens {max}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_reached_when_the_total_meets_it() {
        let spend = Spend::new(&Budget {
            max_usd: Some(1.0),
            max_tokens: Some(1000),
        });
        assert_eq!(spend.reached(), None);
        spend.add(0.6, 100);
        assert_eq!(spend.reached(), None);
        spend.add(0.4, 100);
        assert!(spend.reached().unwrap().contains("max_usd"));
        let tokens = Spend::new(&Budget {
            max_usd: None,
            max_tokens: Some(1000),
        });
        tokens.add(5.0, 1000);
        assert!(tokens.reached().unwrap().contains("1000 tokens"));
        assert_eq!(Spend::new(&Budget::default()).reached(), None);
    }
}
