//! Printing helpers shared by the commands: JSON, times, short ids, one-line errors.

use serde::Serialize;

/// Prints `value` as one line of JSON. A closed stdout is not an error worth a panic: the
/// reader is gone, so the write is dropped.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let line = serde_json::to_string(value)?;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
    Ok(())
}

/// Most characters of a peer's words (a refusal's reason, say) shown or logged.
const MAX_PEER_WORDS: usize = 200;

/// A peer's words (a refusal's reason, say) as they may reach a log, a terminal or a page:
/// made [`printable`] and cut to at most 200 characters.
pub fn peer_words(text: &str) -> String {
    printable(text).chars().take(MAX_PEER_WORDS).collect()
}

/// `text` from a peer, safe for a terminal: control characters (escape sequences that
/// would move the cursor, recolour or retitle the terminal, or fake lines of output) and
/// invisible or direction-changing ones are written out as `\u{1b}`, `\n` and the like.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || weft_proto::acl::is_hidden(c);
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Prints `rows` under `header` in columns as wide as their widest cell (by characters).
pub fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut widths = header.each_ref().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

/// `n` things: `1 chunk`, `2 chunks` (`what` is the singular; its plural adds an `s`).
pub fn count(n: impl Into<u64>, what: &str) -> String {
    match n.into() {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// An error and its causes on one line, safe for a terminal (an error may quote a peer).
pub fn one_line(error: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, cause) in error.chain().enumerate() {
        let text = cause.to_string();
        if i > 0 {
            if out.contains(&text) {
                continue;
            }
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    printable(&out.replace('\n', " ")).into_owned()
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for microseconds since the Unix epoch.
pub fn datetime(ts_us: u64) -> String {
    let secs = ts_us / 1_000_000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `HH:MM:SS.mmm` (UTC) for microseconds since the Unix epoch.
pub fn time_of_day(ts_us: u64) -> String {
    let ms = ts_us / 1000;
    let rem = (ms / 1000) % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// A PeerId shortened for human output: `…` and its last 8 characters.
pub fn short_peer(peer: &str) -> String {
    match peer.char_indices().rev().nth(7) {
        Some((i, _)) => format!("…{}", &peer[i..]),
        None => peer.to_string(),
    }
}

/// A duration in seconds as `1d 2h 3m 4s`, leaving out leading zero units.
pub fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m {s}s"),
    }
}

// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Who a policy's list admits, in words: the names it lists, or `default` when it is empty.
pub fn admitted(list: &[String], default: &str) -> String {
    if list.is_empty() {
        default.to_string()
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(datetime(0), "1970-01-01 00:00:00");
        // 2026-11-27 21:04:08 UTC
        assert_eq!(datetime(1_795_813_448_000_000), "2026-11-27 21:04:08");
        assert_eq!(datetime(951_782_400_000_000), "2000-02-29 00:00:00");
        assert_eq!(time_of_day(1_795_813_448_123_456), "21:04:08.123");
        assert_eq!(uptime(3725), "1h 2m 5s");
        assert_eq!(short_peer("12D3KooWAbcdefghXYZ12345"), "…XYZ12345");
    }
}
