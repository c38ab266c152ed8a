//! What is metered and which allowance it counts toward: voice per started minute of connected
//! media, text per visitor message; production per calendar month, previews and test runs on
//! their own daily fair-use allowances.

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

    pub fn parse(text: &str) -> Option<UsageKind> {
        [UsageKind::VoiceMinute, UsageKind::TextMessage].into_iter().find(|k| k.as_str() == text)
    }
}

/// What makes one unit of usage itself, so recording it again (a write retried after a lost
/// database connection, or a meter on another node) counts it once: a call's nth minute, or a
/// unit drawn at random when it is metered (a visitor message, a test-run case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UsageKey {
    /// Minute `minute` (0 from connect) of a call.
    VoiceMinute { call: crate::ids::CallId, minute: u32 },
    /// A unit with its own random id.
    Unit(String),
}

impl UsageKey {
    /// A unit key drawn from `rng` (the caller supplies randomness).
    pub fn unique(rng: &mut impl rand::Rng) -> UsageKey {
        UsageKey::Unit(crate::ids::random_base62(rng, 22))
    }

    /// The key as stored (unique in the usage ledger).
    pub fn as_stored(&self) -> String {
        match self {
            UsageKey::VoiceMinute { call, minute } => format!("voice:{call}:{minute}"),
            UsageKey::Unit(id) => format!("unit:{id}"),
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

    #[test]
    fn usage_keys_name_a_call_minute_or_a_drawn_unit() {
        let call = crate::ids::CallId::generate(&mut crate::test_rng());
        let key = UsageKey::VoiceMinute { call: call.clone(), minute: 3 };
        assert_eq!(key.as_stored(), format!("voice:{call}:3"));
        let (a, b) = (UsageKey::unique(&mut crate::test_rng()), UsageKey::unique(&mut rand::rng()));
        assert!(a.as_stored().starts_with("unit:") && a != b);
    }
}
