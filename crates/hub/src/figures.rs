//! Figures across the country: each sede's days, summed by week — waits (median and 90th
//! percentile), the share of visitors called within the sede's target wait, no-shows,
//! satisfaction, and Area Contatti requests answered by the sede's promise — for the console's
//! comparison of sedi, its charts and its CSV.
//!
//! The queue's events are turned into one row per sede and day (`day_figures`: counts and a
//! histogram of waits by the minute) by a nightly job, once the day is over; a year of a
//! sede is then 250 small rows, and the weeks are added up from those. Nothing here is about
//! a ticket, a counter or a person.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use deadpool_postgres::{GenericClient, Pool};

use crate::HubError;
use crate::jobs::{self, Registry};
use domain::TicketState;
use protocol::wire::BranchConfigPayload;
use queue::DailyFigures;

/// Minutes of wait the histogram counts one by one; the last bucket is this or more.
pub const WAIT_MINUTES: usize = 180;

/// Job kind of the nightly figures.
pub const FIGURES: &str = "figures";

/// Registers the nightly figures with the job runner.
pub fn register(registry: &mut Registry, pool: Pool) {
    registry.register(FIGURES, move |_| {
        let pool = pool.clone();
        async move {
            let today = chrono::Utc::now()
                .with_timezone(&domain::TIME_ZONE)
                .date_naive();
            let n = record_days(&pool, today).await.map_err(|e| e.to_string())?;
            tracing::info!(days = n, "figures of past days recorded");
            Ok(())
        }
    });
}

/// Queues today's figures of the days before (one across all instances).
pub async fn schedule_daily(db: &impl GenericClient) -> Result<(), HubError> {
    let now = chrono::Utc::now();
    let today = now.with_timezone(&domain::TIME_ZONE).date_naive();
    jobs::enqueue(
        db,
        FIGURES,
        None,
        serde_json::json!({}),
        now,
        Some(&format!("figures:{today}")),
    )
    .await?;
    Ok(())
}

/// Waits by the whole minute: `buckets[m]` tickets waited `m` minutes, the last one
/// [`WAIT_MINUTES`] or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waits(pub Vec<i64>);

impl Default for Waits {
    fn default() -> Self {
        Self(vec![0; WAIT_MINUTES + 1])
    }
}

impl Waits {
    /// Counts a wait of `seconds`.
    pub fn add(&mut self, seconds: i64) {
        let minute = usize::try_from(seconds.max(0) / 60).unwrap_or(usize::MAX);
        self.0[minute.min(WAIT_MINUTES)] += 1;
    }

    /// Adds another day's or sede's.
    pub fn merge(&mut self, other: &[i64]) {
        for (a, b) in self.0.iter_mut().zip(other) {
            *a += b;
        }
    }

    /// How many waits it counts.
    pub fn count(&self) -> i64 {
        self.0.iter().sum()
    }

    /// The nearest-rank percentile `p` (0 to 1), in whole minutes.
    pub fn percentile(&self, p: f64) -> Option<u32> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        self.0.iter().enumerate().find_map(|(minute, c)| {
            seen += c;
            (seen >= rank).then_some(minute as u32)
        })
    }

    /// How many waited less than `minutes`.
    pub fn within(&self, minutes: u32) -> i64 {
        self.0.iter().take(minutes as usize).sum()
    }
}

/// Records the figures of every past day (within two weeks) that has queue events and no
/// figures yet; gives how many days it recorded. A day is recorded once: a device that
/// pushes later than the night after its day adds nothing to the figures.
pub async fn record_days(pool: &Pool, today: NaiveDate) -> Result<usize, HubError> {
    let c = pool.get().await?;
    let days = c
        .query(
            "SELECT DISTINCT q.branch_id, q.business_day FROM queue_event q
             WHERE q.business_day < $1 AND q.business_day >= $1 - 14
               AND NOT EXISTS (SELECT 1 FROM day_figures f
                               WHERE f.branch_id = q.branch_id
                                 AND f.business_day = q.business_day)",
            &[&today],
        )
        .await?;
    let mut recorded = 0;
    for row in &days {
        let (branch, day): (i32, NaiveDate) = (row.get(0), row.get(1));
        let Some((_, queue)) = crate::follow::replay(&c, branch, day).await? else {
            continue;
        };
        let mut waits = Waits::default();
        let (mut issued, mut served, mut no_show, mut recalls) = (0i32, 0i32, 0i32, 0i32);
        for t in queue.tickets() {
            issued += 1;
            match t.state {
                TicketState::Served => served += 1,
                TicketState::NoShow => no_show += 1,
                _ => {}
            }
            recalls += i32::from(t.recalls);
            if let Some(called) = t.first_called_at {
                waits.add((called - t.eligible_at).num_seconds());
            }
        }
        let buckets: Vec<i32> = waits.0.iter().map(|&n| n as i32).collect();
        let flow = serde_json::to_value(day_flow(&queue, day))
            .map_err(|e| HubError::Internal(e.to_string()))?;
        recorded += c
            .execute(
                "INSERT INTO day_figures
                     (branch_id, business_day, issued, served, no_show, recalls, waits, flow)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &branch, &day, &issued, &served, &no_show, &recalls, &buckets, &flow,
                ],
            )
            .await? as usize;
    }
    Ok(recorded)
}

/// A past day's flow as the queue's own figures give it, its counters' stretches cut at the
/// day's end; without the per-counter rows.
pub fn day_flow(queue: &queue::Queue, day: NaiveDate) -> DailyFigures {
    let end = queue::local_to_utc(
        (day + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default(),
    );
    let mut f = queue.figures(end);
    f.counters.clear();
    f
}

/// The days of `branch` from `from` with their flow, newest first.
pub async fn flow_days(
    db: &impl GenericClient,
    branch: i32,
    from: NaiveDate,
) -> Result<Vec<NaiveDate>, HubError> {
    Ok(db
        .query(
            "SELECT business_day FROM day_figures
             WHERE branch_id = $1 AND business_day >= $2 AND flow IS NOT NULL
             ORDER BY business_day DESC",
            &[&branch, &from],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// One day's flow of `branch`, if recorded.
pub async fn flow_of(
    db: &impl GenericClient,
    branch: i32,
    day: NaiveDate,
) -> Result<Option<DailyFigures>, HubError> {
    let row = db
        .query_opt(
            "SELECT flow FROM day_figures
             WHERE branch_id = $1 AND business_day = $2 AND flow IS NOT NULL",
            &[&branch, &day],
        )
        .await?;
    row.map(|r| serde_json::from_value(r.get(0)))
        .transpose()
        .map_err(|e| HubError::Internal(format!("day_figures.flow: {e}")))
}

/// One sede's week (or, for the comparison, its whole period).
#[derive(Debug, Clone, PartialEq)]
pub struct Week {
    /// The sede.
    pub branch: i32,
    /// Its Monday.
    pub week: NaiveDate,
    /// Tickets issued, served, absent; recalls.
    pub issued: i64,
    pub served: i64,
    pub no_show: i64,
    pub recalls: i64,
    /// Waits to the first call.
    pub waits: Waits,
    /// The sede's target wait, minutes.
    pub target_wait_min: u32,
    /// Answers after the visit, and their sum of scores.
    pub feedback: i64,
    pub score_sum: i64,
    /// Requests received whose answer is due or given, and those answered by the promise.
    pub requests_due: i64,
    pub requests_on_time: i64,
}

impl Week {
    fn new(branch: i32, week: NaiveDate, target_wait_min: u32) -> Self {
        Self {
            branch,
            week,
            issued: 0,
            served: 0,
            no_show: 0,
            recalls: 0,
            waits: Waits::default(),
            target_wait_min,
            feedback: 0,
            score_sum: 0,
            requests_due: 0,
            requests_on_time: 0,
        }
    }

    /// Median wait, minutes.
    pub fn wait_p50(&self) -> Option<u32> {
        self.waits.percentile(0.5)
    }

    /// 90th percentile of the wait, minutes.
    pub fn wait_p90(&self) -> Option<u32> {
        self.waits.percentile(0.9)
    }

    /// Share of the visitors called who were called within the target wait.
    pub fn within_target(&self) -> Option<f64> {
        let n = self.waits.count();
        (n > 0).then(|| self.waits.within(self.target_wait_min) as f64 / n as f64)
    }

    /// Share of the tickets issued that ended absent.
    pub fn no_show_share(&self) -> Option<f64> {
        (self.issued > 0).then(|| self.no_show as f64 / self.issued as f64)
    }

    /// Mean answer after the visit, 1 to 5.
    pub fn satisfaction(&self) -> Option<f64> {
        (self.feedback > 0).then(|| self.score_sum as f64 / self.feedback as f64)
    }

    /// Share of the requests due or answered that were answered by the sede's promise.
    pub fn on_time(&self) -> Option<f64> {
        (self.requests_due > 0).then(|| self.requests_on_time as f64 / self.requests_due as f64)
    }

    /// Adds another week of the same sede (for a period's total).
    fn absorb(&mut self, o: &Week) {
        self.issued += o.issued;
        self.served += o.served;
        self.no_show += o.no_show;
        self.recalls += o.recalls;
        self.waits.merge(&o.waits.0);
        self.feedback += o.feedback;
        self.score_sum += o.score_sum;
        self.requests_due += o.requests_due;
        self.requests_on_time += o.requests_on_time;
    }
}

/// The Monday of `day`'s week.
pub fn monday(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The weeks of every sede (or of `branch` alone) from `from` to `to` (both included), in
/// order of sede and week; `today` is when requests' clocks are read.
pub async fn weekly(
    c: &impl GenericClient,
    branch: Option<i32>,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Result<Vec<Week>, HubError> {
    let configs: BTreeMap<i32, BranchConfigPayload> = c
        .query(
            "SELECT branch_id, payload FROM branch_config
             WHERE $1::integer IS NULL OR branch_id = $1",
            &[&branch],
        )
        .await?
        .iter()
        .filter_map(|r| Some((r.get(0), serde_json::from_value(r.get(1)).ok()?)))
        .collect();
    let mut weeks: BTreeMap<(i32, NaiveDate), Week> = BTreeMap::new();
    fn slot<'a>(
        weeks: &'a mut BTreeMap<(i32, NaiveDate), Week>,
        configs: &BTreeMap<i32, BranchConfigPayload>,
        b: i32,
        day: NaiveDate,
    ) -> Option<&'a mut Week> {
        let target = configs.get(&b)?.target_wait_min;
        Some(
            weeks
                .entry((b, monday(day)))
                .or_insert_with(|| Week::new(b, monday(day), target)),
        )
    }
    for r in c
        .query(
            "SELECT branch_id, business_day, issued, served, no_show, recalls, waits
             FROM day_figures
             WHERE business_day BETWEEN $1 AND $2 AND ($3::integer IS NULL OR branch_id = $3)",
            &[&from, &to, &branch],
        )
        .await?
    {
        let Some(w) = slot(&mut weeks, &configs, r.get(0), r.get(1)) else {
            continue;
        };
        w.issued += i64::from(r.get::<_, i32>(2));
        w.served += i64::from(r.get::<_, i32>(3));
        w.no_show += i64::from(r.get::<_, i32>(4));
        w.recalls += i64::from(r.get::<_, i32>(5));
        let buckets: Vec<i32> = r.get(6);
        let buckets: Vec<i64> = buckets.into_iter().map(i64::from).collect();
        w.waits.merge(&buckets);
    }
    for r in c
        .query(
            "SELECT branch_id, business_day, count(*), sum(score)
             FROM visit_feedback
             WHERE business_day BETWEEN $1 AND $2 AND ($3::integer IS NULL OR branch_id = $3)
             GROUP BY branch_id, business_day",
            &[&from, &to, &branch],
        )
        .await?
    {
        let Some(w) = slot(&mut weeks, &configs, r.get(0), r.get(1)) else {
            continue;
        };
        w.feedback += r.get::<_, i64>(2);
        w.score_sum += r.get::<_, i64>(3);
    }
    // Requests by the week they arrived: answered by their due date, of those whose due date
    // has come or that were answered.
    for r in c
        .query(
            "SELECT branch_id, topic, created_at, answered_at FROM contact_request
             WHERE (created_at AT TIME ZONE 'Europe/Rome')::date BETWEEN $1 AND $2
               AND ($3::integer IS NULL OR branch_id = $3)",
            &[&from, &to, &branch],
        )
        .await?
    {
        let b: i32 = r.get(0);
        let Some(config) = configs.get(&b) else {
            continue;
        };
        let topic: String = r.get(1);
        let created: chrono::DateTime<chrono::Utc> = r.get(2);
        let answered: Option<chrono::DateTime<chrono::Utc>> = r.get(3);
        let day =
            |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&domain::TIME_ZONE).date_naive();
        let clock = config
            .contatti
            .clock(&topic, day(created), answered.map(day), today);
        let due = clock.answered.is_some() || today > clock.due;
        let Some(w) = slot(&mut weeks, &configs, b, day(created)) else {
            continue;
        };
        if due {
            w.requests_due += 1;
            w.requests_on_time += i64::from(clock.answered.is_some() && clock.late_by() == 0);
        }
    }
    Ok(weeks.into_values().collect())
}

/// Each sede's weeks added up over the period, for the comparison.
pub fn totals(weeks: &[Week]) -> Vec<Week> {
    let mut by: BTreeMap<i32, Week> = BTreeMap::new();
    for w in weeks {
        by.entry(w.branch)
            .or_insert_with(|| Week::new(w.branch, w.week, w.target_wait_min))
            .absorb(w);
    }
    by.into_values().collect()
}

fn share(v: Option<f64>) -> String {
    v.map(|x| format!("{:.3}", x)).unwrap_or_default()
}

fn minutes(v: Option<u32>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The weeks as CSV (RFC 4180, a header line; shares from 0 to 1, waits in minutes).
pub fn csv(weeks: &[Week]) -> String {
    let mut out = String::from(
        "sede,settimana,emessi,serviti,assenti,richiami,attesa_mediana_min,attesa_p90_min,\
         obiettivo_attesa_min,entro_obiettivo,quota_assenti,risposte_gradimento,gradimento_medio,\
         richieste_scadute_o_risposte,richieste_in_tempo,quota_richieste_in_tempo\r\n",
    );
    for w in weeks {
        out.push_str(&format!(
            "{:04},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            w.branch,
            w.week,
            w.issued,
            w.served,
            w.no_show,
            w.recalls,
            minutes(w.wait_p50()),
            minutes(w.wait_p90()),
            w.target_wait_min,
            share(w.within_target()),
            share(w.no_show_share()),
            w.feedback,
            w.satisfaction()
                .map(|x| format!("{x:.2}"))
                .unwrap_or_default(),
            w.requests_due,
            w.requests_on_time,
            share(w.on_time()),
        ));
    }
    out
}

/// A chart of one sede's weekly waits — median and 90th percentile, and the target as a
/// line — as SVG for the page (drawn here, so the browser runs no script).
pub fn wait_chart(weeks: &[Week], title: &str) -> Result<String, HubError> {
    use plotters::prelude::*;
    let mut svg = String::new();
    // Weeks by their index along the axis, labelled by their Monday.
    let points = |f: &dyn Fn(&Week) -> Option<u32>| -> Vec<(i32, u32)> {
        weeks
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((i as i32, f(w)?)))
            .collect()
    };
    let p50 = points(&|w| w.wait_p50());
    let p90 = points(&|w| w.wait_p90());
    let target = weeks.first().map_or(30, |w| w.target_wait_min);
    if weeks.is_empty() {
        return Ok(String::new());
    }
    let last = weeks.len() as i32 - 1;
    let label = |i: &i32| {
        weeks
            .get(usize::try_from(*i).unwrap_or(usize::MAX))
            .map(|w| w.week.format("%d/%m").to_string())
            .unwrap_or_default()
    };
    let top = p90.iter().map(|p| p.1).max().unwrap_or(0).max(target) + 10;
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0i32..last.max(1), 0u32..top)?;
        chart
            .configure_mesh()
            .x_labels(weeks.len().min(12))
            .x_label_formatter(&label)
            .x_desc("settimana dal")
            .y_desc("minuti")
            .label_style(("sans-serif", 13))
            .draw()?;
        let green = RGBColor(0x00, 0x70, 0x3c);
        let dark = RGBColor(0x00, 0x33, 0x66);
        let light = RGBColor(0x06, 0x66, 0xcc);
        // The target first, so the waits are drawn over it.
        let lines = [
            (
                vec![(0, target), (last.max(1), target)],
                green,
                2,
                format!("obiettivo: {target} minuti"),
            ),
            (p90, dark, 3, "attesa: 9 visitatori su 10 entro".to_owned()),
            (p50, light, 3, "attesa mediana".to_owned()),
        ];
        for (points, colour, width, name) in lines {
            chart
                .draw_series(LineSeries::new(
                    points,
                    ShapeStyle::from(&colour).stroke_width(width),
                ))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| HubError::internal("chart", e.to_string()))?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_the_histogram_are_those_of_the_waits() {
        let mut w = Waits::default();
        // Waits of 1 to 10 minutes, in seconds, one each.
        for m in 1..=10 {
            w.add(m * 60 + 30);
        }
        assert_eq!(w.count(), 10);
        assert_eq!(w.percentile(0.5), Some(5));
        assert_eq!(w.percentile(0.9), Some(9));
        assert_eq!(w.within(5), 4, "1 to 4 minutes");
        w.add(-5);
        w.add(10 * 3600);
        assert_eq!((w.0[0], w.0[WAIT_MINUTES]), (1, 1));
        assert_eq!(Waits::default().percentile(0.5), None);
    }

    #[test]
    fn weeks_start_on_monday_and_add_up() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert_eq!(monday(d(12, 6)), d(11, 30));
        assert_eq!(monday(d(11, 30)), d(11, 30));
        let mut a = Week::new(7001, d(11, 30), 30);
        a.issued = 10;
        a.no_show = 1;
        a.waits.add(60 * 20);
        a.waits.add(60 * 40);
        let mut b = Week::new(7001, d(12, 7), 30);
        b.issued = 10;
        b.no_show = 3;
        b.feedback = 2;
        b.score_sum = 9;
        b.waits.add(60 * 10);
        let t = totals(&[a, b]);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].issued, t[0].no_show_share()), (20, Some(0.2)));
        assert_eq!(t[0].within_target(), Some(2.0 / 3.0));
        assert_eq!(t[0].satisfaction(), Some(4.5));
        let csv = csv(&t);
        assert!(csv.starts_with("sede,settimana,"), "{csv}");
        assert!(
            csv.contains("\r\n7001,2026-11-30,20,0,4,0,20,40,30,0.667,0.200,2,4.50,0,0,\r\n"),
            "{csv}"
        );
    }

    #[test]
    fn the_chart_is_an_svg_with_both_lines_and_the_target() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, 2).unwrap() + Duration::days(day);
        let weeks: Vec<Week> = (0..6)
            .map(|i| {
                let mut w = Week::new(7001, d(7 * i), 30);
                for m in 0..20 {
                    w.waits.add((m * (i + 2)) * 60);
                }
                w
            })
            .collect();
        let svg = wait_chart(&weeks, "Roma Tuscolano").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("Roma Tuscolano") && svg.contains("obiettivo: 30 minuti"));
        // The data's lines: their points, as drawn (y grows downwards).
        let line = |stroke: &str, width: &str| -> Vec<(i32, i32)> {
            let tag = format!("stroke=\"{stroke}\" stroke-width=\"{width}\" points=\"");
            let start = svg.find(&tag).unwrap_or_else(|| panic!("no {stroke} line")) + tag.len();
            svg[start..svg[start..].find('"').unwrap() + start]
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        };
        let (p50, p90, goal) = (
            line("#0666CC", "3"),
            line("#003366", "3"),
            line("#00703C", "2"),
        );
        assert_eq!((p50.len(), p90.len()), (6, 6), "a point a week");
        // Waits grow week by week, the 90th percentile above the median, the target flat.
        assert!(p50.windows(2).all(|w| w[1].1 < w[0].1), "{p50:?}");
        assert!(
            p50.iter().zip(&p90).all(|(a, b)| b.1 < a.1),
            "{p50:?} {p90:?}"
        );
        assert_eq!(goal.len(), 2);
        assert_eq!(goal[0].1, goal[1].1);
        assert_eq!(wait_chart(&[], "x").unwrap(), "");
    }
}
