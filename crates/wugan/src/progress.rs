//! Progress bars on stderr for the long commands (`simulate`, `crashloop`). The caller decides
//! whether to show one (stderr is a terminal and no `--json`); otherwise the bar is hidden and
//! costs nothing. The bar takes whatever width the line leaves after the counts, rate and ETA, so
//! it fits a narrow terminal; it only moves forward ([`advance_to`]).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar of `len` `unit`s (e.g. "visits"), hidden unless `show`.
pub fn bar(show: bool, len: u64, unit: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("[{wide_bar}] {pos}/{len} {rate} eta {eta}").unwrap_or_else(|_| ProgressStyle::default_bar());
    let rate = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.1} {unit}/s", state.per_sec());
    };
    bar.set_style(style.with_key("rate", rate).progress_chars("=> "));
    bar
}

/// Moves the bar to `done` if that is further on: a bar never counts backwards.
pub fn advance_to(bar: &ProgressBar, done: u64) {
    if done > bar.position() {
        bar.set_position(done);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bar_never_counts_backwards_and_a_hidden_one_still_counts() {
        let bar = super::bar(false, 10, "visits");
        for (to, expect) in [(3, 3), (2, 3), (3, 3), (7, 7), (0, 7), (10, 10)] {
            super::advance_to(&bar, to);
            assert_eq!(bar.position(), expect, "after advance_to({to})");
        }
    }
}
