//! Amounts as the pages show them: every figure of money goes through [`yuan`] (`¥123,456.78`,
//! `-¥1,234.50`), integer-exact from `i64` fen, never through a float. A form field's value is
//! the other thing: [`plain`] (`123456.78`), what the API and `app.js`'s `yuanToFen` accept.
//! `assets/app.js` (`fenToYuan`) and `assets/ops-chart.js` (`yuan`) say amounts the same way.

/// Fen as yuan for reading: `¥`, the whole yuan grouped by threes with commas (the same in
/// Chinese and English), two decimals; a negative amount's sign before the `¥`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", grouped(&(fen / 100).to_string()), fen % 100)
}

/// Fen as the plain yuan text a form field holds and posts (`12345` → `123.45`): no `¥`, no commas.
pub fn plain(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// A yuan decimal as a partner sent it ("25.00", "1200.5", a unit price) said like [`yuan`]:
/// `¥25.00`, `¥1,200.5`. Text that is not a plain decimal is left as it is; empty stays empty.
pub fn yuan_text(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || fraction.is_some_and(|f| !is_digits(f)) {
        return text.to_string();
    }
    match fraction {
        Some(f) => format!("{sign}¥{}.{f}", grouped(whole)),
        None => format!("{sign}¥{}", grouped(whole)),
    }
}

/// ASCII digits with a comma between each group of three, from the right.
fn grouped(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_yuan_grouped_by_thousands_exactly() {
        for (fen, shown, posted) in [
            (0, "¥0.00", "0.00"),
            (5, "¥0.05", "0.05"),
            (99, "¥0.99", "0.99"),
            (100, "¥1.00", "1.00"),
            (99_999, "¥999.99", "999.99"),
            (100_000, "¥1,000.00", "1000.00"),
            (12_345_678, "¥123,456.78", "123456.78"),
            (123_456_789, "¥1,234,567.89", "1234567.89"),
            (100_000_000_000, "¥1,000,000,000.00", "1000000000.00"),
            (-5, "-¥0.05", "-0.05"),
            (-123_450, "-¥1,234.50", "-1234.50"),
            (-100_000, "-¥1,000.00", "-1000.00"),
            (i64::MAX, "¥92,233,720,368,547,758.07", "92233720368547758.07"),
            (i64::MIN, "-¥92,233,720,368,547,758.08", "-92233720368547758.08"),
        ] {
            assert_eq!(yuan(fen), shown, "{fen}");
            assert_eq!(plain(fen), posted, "{fen}");
        }
    }

    #[test]
    fn a_partners_decimal_reads_like_every_other_amount() {
        for (text, shown) in [
            ("25.00", "¥25.00"),
            ("1200.00", "¥1,200.00"),
            ("12.345", "¥12.345"),
            ("1000000", "¥1,000,000"),
            ("-1500.5", "-¥1,500.5"),
            ("", ""),
            ("abc", "abc"),
            ("1.2.3", "1.2.3"),
            ("12.", "12."),
            (".5", ".5"),
        ] {
            assert_eq!(yuan_text(text), shown, "{text}");
        }
    }
}
