//! Metering arithmetic: voice is billed per started minute of connected media, text per
//! visitor message. Pure functions of durations so the meter supervisor and the tests agree.

/// How many metered minutes `connected_ms` of media has started (0 ms is 0; 1 ms is 1).
pub fn started_minutes(connected_ms: u64, minute_ms: u64) -> u64 {
    if minute_ms == 0 {
        return 0;
    }
    connected_ms.div_ceil(minute_ms)
}

/// Milliseconds after connect at which minute number `n` (1-based) starts.
pub fn minute_start_offset(n: u64, minute_ms: u64) -> u64 {
    n.saturating_sub(1).saturating_mul(minute_ms)
}

/// Whether one more unit fits under `limit` given `used` (None means unlimited).
pub fn fits(used: u64, limit: Option<u64>) -> bool {
    limit.is_none_or(|l| used < l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_minutes_rounds_up() {
        assert_eq!(started_minutes(0, 60_000), 0);
        assert_eq!(started_minutes(1, 60_000), 1);
        assert_eq!(started_minutes(60_000, 60_000), 1);
        assert_eq!(started_minutes(60_001, 60_000), 2);
        assert_eq!(minute_start_offset(1, 60_000), 0);
        assert_eq!(minute_start_offset(3, 100), 200);
    }

    #[test]
    fn limits() {
        assert!(fits(0, Some(1)));
        assert!(!fits(1, Some(1)));
        assert!(fits(1_000_000, None));
    }
}

/// What is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    VoiceMinute,
    TextMessage,
}

impl UsageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageKind::VoiceMinute => "voice_minute",
            UsageKind::TextMessage => "text_message",
        }
    }
}

/// Which allowance usage counts toward: production (billable), or the separate fair-use
/// allowances of previews and agent test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageClass {
    Production,
    Preview,
    TestRun,
}

impl UsageClass {
    pub const ALL: [UsageClass; 3] = [UsageClass::Production, UsageClass::Preview, UsageClass::TestRun];

    pub fn as_str(self) -> &'static str {
        match self {
            UsageClass::Production => "production",
            UsageClass::Preview => "preview",
            UsageClass::TestRun => "test_run",
        }
    }

    pub fn parse(text: &str) -> Option<UsageClass> {
        UsageClass::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Production allowances run per calendar month; fair use per day (both UTC).
    pub fn period(self) -> Period {
        match self {
            UsageClass::Production => Period::Month,
            UsageClass::Preview | UsageClass::TestRun => Period::Day,
        }
    }
}

/// An allowance period, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    Month,
}

impl Period {
    /// The start of the period containing `at`, and the start of the next one.
    pub fn bounds(self, at: crate::Timestamp) -> (crate::Timestamp, crate::Timestamp) {
        use time::{Date, Month, OffsetDateTime, Time};
        let t = OffsetDateTime::from_unix_timestamp(at.seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let date = t.date();
        let (start, next) = match self {
            Period::Day => (date, date.next_day().unwrap_or(date)),
            Period::Month => {
                let first = Date::from_calendar_date(date.year(), date.month(), 1).unwrap_or(date);
                let (y, m) = if date.month() == Month::December {
                    (date.year() + 1, Month::January)
                } else {
                    (date.year(), date.month().next())
                };
                (first, Date::from_calendar_date(y, m, 1).unwrap_or(first))
            }
        };
        let ms = |d: Date| crate::Timestamp(d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() * 1000);
        (ms(start), ms(next))
    }
}

#[cfg(test)]
mod period_tests {
    use super::*;
    use crate::Timestamp;

    #[test]
    fn periods_are_utc_days_and_months() {
        let t = Timestamp::parse("2026-12-31T23:59:59Z").unwrap();
        let (s, n) = Period::Day.bounds(t);
        assert_eq!(s, Timestamp::parse("2026-12-31T00:00:00Z").unwrap());
        assert_eq!(n, Timestamp::parse("2027-01-01T00:00:00Z").unwrap());
        let (s, n) = Period::Month.bounds(t);
        assert_eq!(s, Timestamp::parse("2026-12-01T00:00:00Z").unwrap());
        assert_eq!(n, Timestamp::parse("2027-01-01T00:00:00Z").unwrap());
        assert_eq!(UsageClass::parse("test_run"), Some(UsageClass::TestRun));
    }
}
