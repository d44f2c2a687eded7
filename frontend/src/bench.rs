//! A hidden benchmark hook: open the app with `?bench=N` (and optionally `&iters=K`) and it
//! recomputes the Smart Batching preview of a synthetic queue of N jobs K times in each mode,
//! then prints the timings to the console and into `<pre id="bench-result">` (JSON), with
//! the time from navigation start to the app's first render (`first_render_ms`).

use crate::preview;
use cosmosq_shared::CostModel;
use leptos::prelude::set_timeout;
use serde_json::json;
use std::time::Duration;

fn query(name: &str) -> Option<usize> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)?
        .parse()
        .ok()
}

pub fn run_if_asked() {
    let Some(jobs) = query("bench") else {
        return;
    };
    let iters = query("iters").unwrap_or(10).max(1);
    // After the first render, so the page is up while it runs.
    set_timeout(move || report(jobs, iters), Duration::from_millis(0));
}

fn report(jobs: usize, iters: usize) {
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return;
    };
    // The app is mounted and its first view is in the DOM: time since navigation start
    // (HTML, JS glue, wasm fetch and compile, start-up, first render).
    let first_render_ms = performance.now();
    let cost = CostModel::default();
    let mut result =
        json!({ "jobs": jobs, "iterations": iters, "first_render_ms": first_render_ms });
    for (name, mix) in [("strict", false), ("mixed", true)] {
        let (queue, prompts) = preview::synthetic_queue(jobs, mix);
        let mut times = Vec::with_capacity(iters);
        let mut batches = 0;
        for _ in 0..iters {
            let start = performance.now();
            let plan = preview::preview_plan(&queue, &prompts, &cost);
            times.push(performance.now() - start);
            batches = plan.map(|p| p.batches.len()).unwrap_or(0);
        }
        // The first runs include V8 tiering the wasm up from its baseline compiler: reported
        // apart, the steady state (what each queue change costs) from the rest.
        let first = times[0];
        let steady = if times.len() > 1 {
            &times[1..]
        } else {
            &times[..]
        };
        let mean = steady.iter().sum::<f64>() / steady.len() as f64;
        let mut sorted = steady.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let p95 = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
        let max = sorted[sorted.len() - 1];
        result[name] = json!({
            "first_ms": first, "mean_ms": mean, "median_ms": median, "p95_ms": p95,
            "min_ms": sorted[0], "max_ms": max, "batches": batches,
        });
    }
    let text = result.to_string();
    web_sys::console::log_1(&format!("cosmosq preview benchmark: {text}").into());
    if let Some(document) = web_sys::window().and_then(|w| w.document()) {
        if let (Ok(pre), Some(body)) = (document.create_element("pre"), document.body()) {
            pre.set_id("bench-result");
            pre.set_text_content(Some(&text));
            let _ = body.append_child(&pre);
        }
    }
}
