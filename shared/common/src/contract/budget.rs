//! The safety margin: the share of every budget (a token's requests per window, the monthly post
//! cap) the pipeline holds back so the X API never refuses it.
//!
//! One formula for every budget, here. The operator's scaling, monthly forecast, extractor
//! config and admission check call [`after_safety_margin`]; the CRD's CEL rule and the Terraform
//! module's validation cannot call Rust and are paired with it by the operator core's unit tests
//! (`operator/core/src/admission/contract_twins.rs`).

/// The largest margin that leaves anything: a larger one counts as this (nothing usable).
pub const MAX_MARGIN_PERCENT: u32 = 100;

/// `amount × (100 − safety_margin_percent) / 100`, rounded down (e.g. 450 at 10 % → 405).
///
/// Exact for every `u64` (no intermediate product can overflow), so huge monthly caps are safe.
pub const fn after_safety_margin(amount: u64, safety_margin_percent: u32) -> u64 {
    let margin = if safety_margin_percent > MAX_MARGIN_PERCENT {
        MAX_MARGIN_PERCENT
    } else {
        safety_margin_percent
    };
    let kept = (MAX_MARGIN_PERCENT - margin) as u64;
    // amount = 100·q + r, so ⌊amount·kept/100⌋ = q·kept + ⌊r·kept/100⌋ with q·kept ≤ amount.
    amount / 100 * kept + amount % 100 * kept / 100
}

/// [`after_safety_margin`] written out for rules that cannot call Rust (the CRD's CEL, the
/// Terraform module's HCL), over their own names for the amount and the margin. Integer division
/// there must round down as here: CEL's `int` division does for the non-negative values the
/// schema allows; HCL needs `floor(…)` around it.
pub fn after_safety_margin_expression(amount: &str, safety_margin_percent: &str) -> String {
    format!("{amount} * ({MAX_MARGIN_PERCENT} - {safety_margin_percent}) / {MAX_MARGIN_PERCENT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_share_outside_the_margin_rounded_down() {
        // (amount, margin %) → kept
        let rows = [
            (450, 10, 405),
            (450, 0, 450),
            (450, 90, 45),
            (7, 10, 6), // 6.3 rounds down
            (60, 33, 40),
            (99, 1, 98), // 98.01
            (1, 10, 0),
            (0, 10, 0),
            (1_000_000, 10, 900_000),
            (10_000, 100, 0),
            (10_000, 250, 0), // over 100 % counts as 100 %
        ];
        for (amount, margin, kept) in rows {
            assert_eq!(
                after_safety_margin(amount, margin),
                kept,
                "{amount} at {margin}%"
            );
        }
    }

    #[test]
    fn equals_the_plain_formula_wherever_that_does_not_overflow_and_never_overflows() {
        for amount in (0..1_000_u64).chain([u64::from(u32::MAX), 1 << 56]) {
            for margin in 0..=100_u32 {
                let plain = amount * u64::from(100 - margin) / 100;
                assert_eq!(
                    after_safety_margin(amount, margin),
                    plain,
                    "{amount} {margin}"
                );
            }
        }
        assert_eq!(after_safety_margin(u64::MAX, 0), u64::MAX);
        assert_eq!(after_safety_margin(u64::MAX, 100), 0);
        let exact = u128::from(u64::MAX) * 90 / 100;
        assert_eq!(u128::from(after_safety_margin(u64::MAX, 10)), exact);
    }

    #[test]
    fn the_written_out_formula_names_its_operands() {
        assert_eq!(
            after_safety_margin_expression("limit", "margin"),
            "limit * (100 - margin) / 100"
        );
    }
}
