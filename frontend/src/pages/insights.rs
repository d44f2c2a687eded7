//! Insights: how good the cost model's estimates are (estimate vs measured seconds of each
//! finished batch), what each slot ran over the last hours, and jobs per hour with the share
//! of GPU time batching saved. Charts are SVG drawn here, from the store's batches, jobs and
//! prompts and the daemon's cost model.

use crate::insights::{
    self, accuracy_points, clock, index_jobs, savings, throughput, timeline, LogAxis, SavingsTotal,
};
use crate::model::{format_seconds, plural, short_id};
use crate::store::use_store;
use cosmosq_shared::Profile;
use leptos::prelude::*;
use std::time::Duration;

const HOUR_MS: f64 = 3_600_000.0;
/// The timeline shows batches of the last day (the axis fits what ran).
const TIMELINE_WINDOW_MS: f64 = 24.0 * HOUR_MS;
/// Hours on the throughput chart.
const HOURS: usize = 12;

/// Minutes east of UTC in this browser (for clock labels).
fn local_offset_minutes() -> f64 {
    -js_sys::Date::new_0().get_timezone_offset()
}

fn percent_text(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

#[component]
pub fn InsightsPage() -> impl IntoView {
    let store = use_store();
    let now = RwSignal::new(js_sys::Date::now());
    if let Ok(handle) =
        set_interval_with_handle(move || now.set(js_sys::Date::now()), Duration::from_secs(5))
    {
        on_cleanup(move || handle.clear());
    }
    // The daemon may have refitted its model: read it afresh.
    store.reload_cost_model();
    let saved = Memo::new(move |_| {
        let cost = store
            .cost
            .with(|c| c.as_ref().map(|c| c.cost_model.clone()))?;
        Some(store.jobs.with(|jobs| {
            let index = index_jobs(jobs);
            store.prompt_index.with(|prompts| {
                store
                    .batches
                    .with(|batches| savings(batches, &index, prompts, &cost))
            })
        }))
    });

    view! {
        <div class="page-head">
            <div>
                <h1>"Insights"</h1>
                <p class="sub">"How the cost model's estimates compare with what ran, what each slot ran, and what batching saved."</p>
            </div>
        </div>
        <div class="insights">
            <section class="card chart-card">
                <div class="card-head">
                    <h2>"Estimate vs measured"</h2>
                    <span class="muted small" id="accuracy-caption">
                        {move || store.cost.get().map(|c| {
                            if c.samples == 0 {
                                "The cost model has not been fitted to measured batches yet.".to_string()
                            } else {
                                format!(
                                    "Mean error of the cost model now: {:.1} % over {}{}",
                                    c.mean_error * 100.0,
                                    plural(c.samples, "batch"),
                                    if c.refit { " (refitted after each batch)" } else { "" },
                                )
                            }
                        })}
                    </span>
                </div>
                <AccuracyChart/>
            </section>
            <section class="card chart-card">
                <div class="card-head">
                    <h2>"Batches per slot"</h2>
                    <span class="muted small">"The last 24 hours; a bar from start to end (running: to now)."</span>
                </div>
                <TimelineChart now=now/>
            </section>
            <section class="card chart-card">
                <div class="card-head">
                    <h2>"Jobs per hour"</h2>
                    <span class="muted small">{format!("The last {HOURS} hours, jobs of succeeded batches.")}</span>
                </div>
                <ThroughputChart now=now saved=saved/>
                <p class="savings" id="savings">
                    {move || match saved.get() {
                        None => "Loading the cost model…".to_string(),
                        Some(list) => {
                            let t = SavingsTotal::of(&list);
                            match t.share() {
                                None => "No succeeded batch measured yet: nothing to compare.".to_string(),
                                Some(share) if share >= 0.0 => format!(
                                    "Batching saved {} of the GPU time: {} measured instead of ≈ {} had each job run alone ({}, {}).",
                                    percent_text(share),
                                    format_seconds(t.measured),
                                    format_seconds(t.alone),
                                    plural(t.batches, "batch"),
                                    plural(t.jobs, "job"),
                                ),
                                Some(share) => format!(
                                    "Batching cost {} more GPU time than running each job alone would have: {} measured, ≈ {} alone ({}, {}).",
                                    percent_text(-share),
                                    format_seconds(t.measured),
                                    format_seconds(t.alone),
                                    plural(t.batches, "batch"),
                                    plural(t.jobs, "job"),
                                ),
                            }
                        }
                    }}
                </p>
                <p class="muted small" id="savings-method">
                    "How: for each succeeded batch, each of its jobs is estimated as if it ran alone with the daemon's current "
                    "cost model (its own start-up, control loads and compute); those estimates are scaled by the batch's measured "
                    "÷ estimated seconds (the same model's estimate of the batch), and the saving is their sum minus the measured "
                    "seconds. Batches whose jobs were deleted are left out."
                </p>
            </section>
        </div>
    }
}

/// Scatter of estimated (x) vs measured (y) seconds, log scales, with the y = x line.
#[component]
fn AccuracyChart() -> impl IntoView {
    let store = use_store();
    let (w, h) = (640.0, 380.0);
    let (left, right, top, bottom) = (64.0, 20.0, 16.0, 44.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let marks = Memo::new(move |_| store.batches.with(|b| accuracy_points(b)));
    let simulated = move || {
        store
            .batches
            .with(|b| b.iter().any(|b| b.executor == Profile::Simulated))
    };
    move || {
        let points = marks.get();
        let axis = LogAxis::covering(points.iter().flat_map(|p| [p.estimated, p.measured]));
        let x = move |v: f64| left + axis.fraction(v) * pw;
        let y = move |v: f64| top + ph - axis.fraction(v) * ph;
        let lo = 10f64.powi(axis.lo_exp);
        let hi = 10f64.powi(axis.hi_exp);
        view! {
            <svg
                id="chart-accuracy"
                class="chart"
                viewBox=format!("0 0 {w} {h}")
                role="img"
                aria-label="Estimated vs measured seconds per finished batch"
            >
                {axis.ticks().into_iter().map(|(v, label)| view! {
                    <g class="tick">
                        <line class="grid" x1=x(v) x2=x(v) y1=top y2=top + ph></line>
                        <line class="grid" x1=left x2=left + pw y1=y(v) y2=y(v)></line>
                        <text class="tick-label" x=x(v) y=top + ph + 16.0 text-anchor="middle">{label.clone()}</text>
                        <text class="tick-label" x=left - 6.0 y=y(v) + 4.0 text-anchor="end">{label}</text>
                    </g>
                }).collect_view()}
                <line class="axis" x1=left x2=left + pw y1=top + ph y2=top + ph></line>
                <line class="axis" x1=left x2=left y1=top y2=top + ph></line>
                <line class="diagonal" x1=x(lo) y1=y(lo) x2=x(hi) y2=y(hi)>
                    <title>"y = x: measured as estimated"</title>
                </line>
                <text class="axis-label" x=left + pw / 2.0 y=h - 6.0 text-anchor="middle">"estimated seconds (at planning)"</text>
                <text class="axis-label" x=14.0 y=top + ph / 2.0 text-anchor="middle" transform=format!("rotate(-90 14 {})", top + ph / 2.0)>
                    "measured seconds"
                </text>
                <text class="legend" x=left + 8.0 y=top + 14.0>"– – y = x (measured as estimated)"</text>
                {points.into_iter().map(|p| {
                    let tip = format!(
                        "{} · {} · {} · estimated {} · measured {}",
                        short_id(&p.batch_id),
                        plural(p.jobs, "job"),
                        p.status.as_str(),
                        format_seconds(p.estimated),
                        format_seconds(p.measured),
                    );
                    view! {
                        <circle
                            class=format!("mark s-{}", p.status.as_str())
                            data-batch=p.batch_id.clone()
                            cx=x(p.estimated)
                            cy=y(p.measured)
                            r="5"
                        >
                            <title>{tip}</title>
                        </circle>
                    }
                }).collect_view()}
            </svg>
            {simulated().then(|| view! {
                <p class="muted small">"Simulated executor: it runs the estimate scaled down, so its batches sit below the line by that scale."</p>
            })}
            <Show when=move || marks.with(Vec::is_empty)>
                <p class="empty">"No finished batch yet."</p>
            </Show>
        }
    }
}

/// A row per slot, a bar per batch from its start to its end (or now).
#[component]
fn TimelineChart(now: RwSignal<f64>) -> impl IntoView {
    let store = use_store();
    let data = Memo::new(move |_| {
        let now = now.get();
        store.batches.with(|b| timeline(b, now, TIMELINE_WINDOW_MS))
    });
    move || {
        let t = data.get();
        let (w, label_w, row_h, top, bottom) = (720.0, 96.0, 30.0, 8.0, 30.0);
        let pw = w - label_w - 36.0;
        let h = top + row_h * t.slots.len().max(1) as f64 + bottom;
        let span = (t.to_ms - t.from_ms).max(1.0);
        let x = move |ms: f64| label_w + (ms - t.from_ms) / span * pw;
        let offset = local_offset_minutes();
        let ticks: Vec<f64> = (0..=4)
            .map(|i| t.from_ms + span * f64::from(i) / 4.0)
            .collect();
        let short_span = span < 2.0 * 60_000.0;
        let rows = t.slots.clone();
        view! {
            <svg
                id="chart-timeline"
                class="chart"
                viewBox=format!("0 0 {w} {h}")
                role="img"
                aria-label="Batches per slot over time"
            >
                {rows.iter().enumerate().map(|(i, slot)| {
                    let y = top + row_h * i as f64;
                    view! {
                        <g class="row">
                            <rect class="lane" x=label_w y=y + 3.0 width=pw height=row_h - 6.0></rect>
                            <text class="tick-label" x=label_w - 8.0 y=y + row_h / 2.0 + 4.0 text-anchor="end">{slot.clone()}</text>
                        </g>
                    }
                }).collect_view()}
                {ticks.into_iter().map(|ms| {
                    let label = if short_span {
                        let secs = ((ms / 1000.0).floor() as i64).rem_euclid(60);
                        format!("{}:{secs:02}", clock(ms, offset))
                    } else {
                        clock(ms, offset)
                    };
                    view! {
                        <g class="tick">
                            <line class="grid" x1=x(ms) x2=x(ms) y1=top y2=h - bottom></line>
                            <text class="tick-label" x=x(ms) y=h - bottom + 16.0 text-anchor="middle">{label}</text>
                        </g>
                    }
                }).collect_view()}
                {t.bars.iter().map(|b| {
                    let row = rows.iter().position(|s| *s == b.slot).unwrap_or(0);
                    let y = top + row_h * row as f64 + 6.0;
                    let width = (x(b.end_ms) - x(b.start_ms)).max(3.0);
                    let controls = if b.controls.is_empty() {
                        "none".to_string()
                    } else {
                        b.controls.iter().map(|c| c.as_str()).collect::<Vec<_>>().join("+")
                    };
                    let tip = format!(
                        "{} · {} · controls {} · {}{} · {}",
                        short_id(&b.batch_id),
                        plural(b.jobs, "job"),
                        controls,
                        b.status.as_str(),
                        if b.running { " (running)" } else { "" },
                        format_seconds((b.end_ms - b.start_ms) / 1000.0),
                    );
                    view! {
                        <rect
                            class=format!("mark s-{}", b.status.as_str())
                            data-batch=b.batch_id.clone()
                            x=x(b.start_ms)
                            y=y
                            width=width
                            height=row_h - 12.0
                            rx="3"
                        >
                            <title>{tip}</title>
                        </rect>
                    }
                }).collect_view()}
            </svg>
            {t.bars.is_empty().then(|| view! { <p class="empty">"No batch ran in the last 24 hours."</p> })}
        }
    }
}

/// Jobs per hour (bars), each hour's saving in its tooltip.
#[component]
fn ThroughputChart(
    now: RwSignal<f64>,
    saved: Memo<Option<Vec<insights::BatchSaving>>>,
) -> impl IntoView {
    let store = use_store();
    let hours = Memo::new(move |_| {
        let now = now.get();
        let saved = saved.get().unwrap_or_default();
        store.batches.with(|b| throughput(b, &saved, now, HOURS))
    });
    move || {
        let bars = hours.get();
        let (w, h, left, top, bottom) = (1200.0, 200.0, 40.0, 18.0, 26.0);
        let ph = h - top - bottom;
        let pw = w - left - 12.0;
        let max = bars.iter().map(|b| b.jobs).max().unwrap_or(0).max(1) as f64;
        let slot = pw / bars.len().max(1) as f64;
        let offset = local_offset_minutes();
        view! {
            <svg
                id="chart-throughput"
                class="chart"
                viewBox=format!("0 0 {w} {h}")
                role="img"
                aria-label="Jobs per hour"
            >
                <line class="axis" x1=left x2=left + pw y1=top + ph y2=top + ph></line>
                <text class="tick-label" x=left - 6.0 y=top + 8.0 text-anchor="end">{format!("{max}")}</text>
                <text class="tick-label" x=left - 6.0 y=top + ph text-anchor="end">"0"</text>
                {bars.into_iter().enumerate().map(|(i, b)| {
                    let height = b.jobs as f64 / max * ph;
                    let x = left + slot * i as f64 + slot * 0.15;
                    let label = clock(b.start_ms, offset);
                    let saving = match b.saving.share() {
                        Some(s) => format!(
                            " · batching saved {} ({})",
                            format_seconds(b.saving.saved()),
                            percent_text(s),
                        ),
                        None => String::new(),
                    };
                    let tip = format!("{label}: {}{saving}", plural(b.jobs, "job"));
                    view! {
                        <g class="hour">
                            <rect
                                class="mark bar"
                                data-hour=label.clone()
                                x=x
                                y=top + ph - height
                                width=slot * 0.7
                                height=height
                                rx="2"
                            >
                                <title>{tip}</title>
                            </rect>
                            {(b.jobs > 0).then(|| view! {
                                <text class="bar-label" x=x + slot * 0.35 y=top + ph - height - 4.0 text-anchor="middle">{b.jobs}</text>
                            })}
                            <text class="tick-label" x=x + slot * 0.35 y=h - bottom + 16.0 text-anchor="middle">{label}</text>
                        </g>
                    }
                }).collect_view()}
            </svg>
        }
    }
}
