//! `/dashboard/usage`: production, preview and test-run usage against the limits of the
//! current periods, and this month's usage per day as charts (with the same numbers as a table).

use super::auth::SignedIn;
use super::page::{html, DashboardError};
use super::Chrome;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use voxgate_actors::control::{PeriodUsage, UsageDay};
use voxgate_engine::metering::{Period, UsageClass};

const DAY_MS: i64 = 86_400_000;
/// The bars' area; the day labels go below it.
const CHART_HEIGHT: u32 = 120;
const LABEL_HEIGHT: u32 = 16;
const BAR: u32 = 8;
/// A day's group: three bars and a gap.
const DAY_WIDTH: u32 = 3 * BAR + 6;

/// One allowance class as the page shows it.
pub struct ClassRow {
    pub class: &'static str,
    /// What a person reads: "Production", "Previews", "Test runs".
    pub label: &'static str,
    pub period: String,
    pub voice: String,
    pub text: String,
    pub voice_used: u64,
    pub text_used: u64,
}

/// One bar of a chart.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub class: &'static str,
    pub title: String,
}

/// A day's label under its bars.
pub struct DayLabel {
    /// The middle of the day's group.
    pub x: u32,
    pub text: String,
}

/// A chart of one unit per day.
pub struct Chart {
    pub title: &'static str,
    pub width: u32,
    /// The bars' area.
    pub height: u32,
    /// With the day labels below.
    pub full_height: u32,
    pub max: u64,
    pub bars: Vec<Bar>,
    pub labels: Vec<DayLabel>,
}

/// What a person reads for an allowance class.
fn label(class: UsageClass) -> &'static str {
    match class {
        UsageClass::Production => "Production",
        UsageClass::Preview => "Previews",
        UsageClass::TestRun => "Test runs",
    }
}

/// A row of the per-day table.
pub struct DayRow {
    pub day: String,
    pub units: [(u64, u64); 3],
}

#[derive(Template)]
#[template(path = "dashboard/usage.html")]
struct UsagePage {
    chrome: Chrome,
    classes: Vec<ClassRow>,
    charts: Vec<Chart>,
    days: Vec<DayRow>,
}

/// `3 of 500`, or `3 (no limit)`.
pub fn of_limit(used: u64, limit: Option<u64>) -> String {
    match limit {
        Some(l) => format!("{used} of {l}"),
        None => format!("{used} (no limit)"),
    }
}

fn day_text(t: voxgate_engine::Timestamp) -> String {
    t.to_rfc3339().get(..10).unwrap_or("").to_string()
}

fn class_row(p: &PeriodUsage) -> ClassRow {
    let period = match p.class {
        UsageClass::Production => format!("this month (from {})", day_text(p.start)),
        _ => format!("today ({} UTC)", day_text(p.start)),
    };
    ClassRow {
        class: p.class.as_str(),
        label: label(p.class),
        period,
        voice: of_limit(p.voice_minutes.0, p.voice_minutes.1),
        text: of_limit(p.text_messages.0, p.text_messages.1),
        voice_used: p.voice_minutes.0,
        text_used: p.text_messages.0,
    }
}

/// A chart of `pick` (voice minutes or text messages) per day of `[start, end)`.
fn chart(
    title: &'static str,
    start: i64,
    days: usize,
    data: &[UsageDay],
    pick: fn(&(u64, u64)) -> u64,
) -> Chart {
    let max = data.iter().flat_map(|d| d.units.iter().map(pick)).max().unwrap_or(0).max(1);
    let mut bars = Vec::new();
    for d in data {
        let index = ((d.day.millis() - start) / DAY_MS).clamp(0, days as i64) as u32;
        for (i, class) in UsageClass::ALL.into_iter().enumerate() {
            let n = pick(&d.units[i]);
            if n == 0 {
                continue;
            }
            let height = ((n * u64::from(CHART_HEIGHT)) / max).max(1) as u32;
            bars.push(Bar {
                x: index * DAY_WIDTH + i as u32 * BAR,
                y: CHART_HEIGHT - height,
                height,
                class: match class {
                    UsageClass::Production => "bar",
                    UsageClass::Preview => "bar preview",
                    UsageClass::TestRun => "bar test",
                },
                title: format!("{}: {n} {} ({})", day_text(d.day), title.to_lowercase(), label(class)),
            });
        }
    }
    // Every day's number under its group: the 1st, 2nd, ... of the month.
    let labels = (0..days as u32)
        .map(|i| DayLabel { x: i * DAY_WIDTH + 3 * BAR / 2, text: (i + 1).to_string() })
        .collect();
    Chart {
        title,
        width: days as u32 * DAY_WIDTH,
        height: CHART_HEIGHT,
        full_height: CHART_HEIGHT + LABEL_HEIGHT,
        max,
        bars,
        labels,
    }
}

pub async fn page(state: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, DashboardError> {
    let ws = &who.user.workspace_id;
    let periods = state.control.current_periods(ws).await?;
    let (start, end) = Period::Month.bounds(voxgate_actors::clock::now());
    let data = state.control.usage_days(ws, start, end).await?;
    let days = ((end.millis() - start.millis()) / DAY_MS).max(1) as usize;
    let page = UsagePage {
        chrome: Chrome::new(&state, &who, "usage"),
        classes: periods.iter().map(class_row).collect(),
        charts: vec![
            chart("Voice minutes", start.millis(), days, &data, |u| u.0),
            chart("Text messages", start.millis(), days, &data, |u| u.1),
        ],
        days: data.iter().map(|d| DayRow { day: day_text(d.day), units: d.units }).collect(),
    };
    Ok(html(StatusCode::OK, &page))
}
