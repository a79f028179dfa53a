//! Number formatting shared by the window, the exports and the command line.

/// `v` with `digits` significant digits, switching to scientific notation below 1e-3.
#[must_use]
pub fn format_sig(v: f64, digits: usize) -> String {
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e4) {
        let decimals = if v == 0.0 {
            0
        } else {
            (digits as i32 - 1 - v.abs().log10().floor() as i32).max(0) as usize
        };
        format!("{v:.decimals$}")
    } else {
        format!("{v:.prec$e}", prec = digits - 1)
    }
}
