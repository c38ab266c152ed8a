//! Wall-clock time as the server writes it, for tests that compare a recorded moment (an
//! `ended_at`, an `expires_at`) with one the test saw: what the server recorded is measured,
//! not how long the test took to look.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Milliseconds since the Unix epoch at `at`, a moment the test took with `Instant::now()`.
pub fn unix_ms(at: Instant) -> i64 {
    now_ms() - Instant::now().saturating_duration_since(at).as_millis() as i64
}

/// Milliseconds since the Unix epoch of an RFC 3339 UTC time as the server writes it
/// (`YYYY-MM-DDTHH:MM:SS(.fff)Z`).
pub fn rfc3339_ms(t: &str) -> i64 {
    let parse = |s: &str| s.parse::<i64>().unwrap_or_else(|_| panic!("not an RFC 3339 time: {t}"));
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap_or_else(|| panic!("no T in {t}"));
    let d: Vec<i64> = date.split('-').map(parse).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(parse).collect();
    let ms = parse(&format!("{frac:0<3}")[..3]);
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    ((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000 + ms
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ms;

    #[test]
    fn rfc3339_times_become_unix_milliseconds() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(rfc3339_ms("2026-11-30T20:24:08.5Z"), 1_796_070_248_500);
        assert_eq!(rfc3339_ms("2000-02-29T23:59:59.999Z"), 951_868_799_999);
    }
}
