//! The HTML page: the same tables as `BENCHMARKS.md` and the SVG charts, one
//! self-contained file. Each chart is a `<figure class="chart" data-plotted="N">` where
//! N is the number of bars or points it plots, for `ci/check-report` to verify.

use std::fmt::Write;

use super::charts::{self, Bar, Series, Unit, color_of};
use super::format::{calls_per_second, factor, nanos};
use super::markdown::not_measured;
use super::pivot::median;
use super::{COMMANDS, METHOD, Report, utc};
use crate::ids::{BACKENDS, OPERATIONS, best_baseline_for, dataset_label, is_point_operation};

/// Operations grouped for the growth charts.
const GROWTH_GROUPS: [(&str, &[&str]); 3] = [
    (
        "point reads",
        &[
            "get_token",
            "get_token_by_access_token",
            "get_session",
            "get_kv",
        ],
    ),
    ("point writes", &crate::ids::WRITES),
    (
        "listings (10 items)",
        &["list_user_tokens", "list_user_sessions", "list_kv_keys"],
    ),
];

/// The peers section: per pair, ours, theirs and ours / theirs per operation.
fn peers_section(h: &mut String, peers: &super::peers::Peers) {
    let _ = writeln!(
        h,
        "<h2>Peers: {} {}</h2><p>{}</p>",
        escape(&peers.peer),
        escape(&peers.peer_version),
        escape(super::peers::METHOD)
    );
    let _ = writeln!(
        h,
        "<p>Mode {}, run {}, load average {}.</p>",
        escape(&peers.mode),
        utc(peers.started_unix),
        escape(&peers.load_average.join(" / "))
    );
    for note in &peers.notes {
        let _ = writeln!(h, "<p>{}</p>", escape(note));
    }
    for pair in &peers.pairs {
        let _ = writeln!(
            h,
            "<h3>{} vs {} ({}, {} records)</h3><table><tr><th>Operation</th><th>c</th>\
             <th>ours</th><th>theirs</th><th>ours/theirs</th></tr>",
            escape(&pair.ours),
            escape(&pair.theirs_type),
            escape(&pair.theirs),
            dataset_label(pair.dataset)
        );
        for row in &pair.rows {
            let show = |cell: &super::peers::Cell| match (cell.median_ns, &cell.not_comparable) {
                (Some(ns), _) => nanos(ns),
                (None, why) => format!(
                    "not comparable: {}",
                    escape(why.as_deref().unwrap_or("no result"))
                ),
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>c{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&row.operation),
                row.concurrency,
                show(&row.ours),
                show(&row.theirs),
                row.ratio().map_or("—".to_owned(), factor)
            );
        }
        let _ = writeln!(h, "</table>");
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A chart in its figure.
fn figure(
    out: &mut String,
    svg: Result<String, String>,
    plotted: usize,
    caption: &str,
) -> Result<(), String> {
    let svg = svg?;
    let _ = writeln!(
        out,
        "<figure class=\"chart\" data-plotted=\"{plotted}\">{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
    Ok(())
}

/// The page.
pub fn render(report: &Report) -> Result<String, String> {
    let pivot = &report.pivot;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>authstore benchmarks</title>\n<style>\
         body{{font-family:sans-serif;margin:1.5em;max-width:1400px}} table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #bbb;padding:3px 7px;font-size:13px;vertical-align:top}} th{{background:#eee}}\
         .charts{{display:flex;flex-wrap:wrap;gap:10px}} figure{{margin:0}} figcaption{{font-size:12px;color:#555}}\
         .MISSED{{color:#b00;font-weight:bold}} .met{{color:#070;font-weight:bold}}</style></head><body>"
    );
    let _ = writeln!(h, "<h1>authstore benchmarks</h1>");
    let _ = writeln!(h, "<table>");
    if let Some(m) = &report.manifest {
        let rows = [
            ("Mode", m.mode_label()),
            (
                "Run",
                format!(
                    "{} to {}",
                    utc(m.started_unix),
                    m.finished_unix.map_or("did not finish".into(), utc)
                ),
            ),
            (
                "Machine",
                format!(
                    "{}, {} logical CPUs, {:.1} GiB, {}",
                    m.machine.cpu_model,
                    m.machine.cores,
                    m.machine.memory_bytes as f64 / (1u64 << 30) as f64,
                    m.machine.os
                ),
            ),
            ("Load average (1/5/15 min)", super::load_text(m)),
            ("Toolchain", m.rustc.clone()),
            ("authstore", m.crate_version.clone()),
        ];
        for (k, v) in rows {
            let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
        }
        for (name, b) in &m.backends {
            if let Some(version) = &b.server_version {
                let _ = writeln!(
                    h,
                    "<tr><th>{} server</th><td>{}</td></tr>",
                    escape(name),
                    escape(version)
                );
            }
        }
    } else {
        let _ = writeln!(
            h,
            "<tr><th>Run</th><td>no run manifest: machine and versions unknown</td></tr>"
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>Results</th><td>{} benchmarks</td></tr></table>",
        pivot.len()
    );

    let _ = writeln!(h, "<h2>Storage Backend Comparison</h2><table><tr><th></th>");
    for b in BACKENDS {
        let _ = write!(h, "<th>{b}</th>");
    }
    let _ = writeln!(h, "</tr>");
    for row in &report.comparison {
        let kind = if row.measured { "measured" } else { "declared" };
        let _ = write!(h, "<tr><th>{} ({kind})</th>", row.name);
        for cell in &row.cells {
            let _ = write!(h, "<td>{}</td>", escape(cell));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</table>");

    let _ = writeln!(
        h,
        "<h2>Targets (issues 6 and 15)</h2><table><tr><th>Target</th><th>Status</th><th>Figure</th></tr>"
    );
    for v in &report.verdicts {
        let status = v.status.label();
        let class = status.split(' ').next().unwrap_or("");
        let mut figure_text = escape(&v.figure);
        if !v.misses.is_empty() {
            figure_text.push_str(&format!("<br>missed: {}", escape(&v.misses.join("; "))));
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"{class}\">{status}</td><td>{figure_text}</td></tr>",
            escape(v.target)
        );
    }
    let _ = writeln!(h, "</table>");

    // Latency growth with dataset size.
    let _ = writeln!(
        h,
        "<h2>Latency against dataset size (concurrency 1)</h2><div class=\"charts\">"
    );
    for (group, ops) in GROWTH_GROUPS {
        let series: Vec<Series> = BACKENDS
            .iter()
            .filter_map(|backend| {
                let points: Vec<(f64, f64)> = pivot
                    .datasets(backend)
                    .into_iter()
                    .filter_map(|d| {
                        let lat = ops
                            .iter()
                            .filter_map(|op| pivot.get(op, backend, d, 1))
                            .map(|m| m.median_ns)
                            .collect();
                        median(lat).map(|l| (d as f64, l))
                    })
                    .collect();
                (!points.is_empty()).then(|| Series {
                    name: (*backend).to_owned(),
                    color: color_of(backend),
                    points,
                })
            })
            .collect();
        let plotted = series.iter().map(|s| s.points.len()).sum();
        figure(
            &mut h,
            charts::growth(&format!("Median latency of {group}"), &series),
            plotted,
            &format!(
                "Median over {} of each backend's median latency, per dataset size.",
                ops.join(", ")
            ),
        )?;
    }
    let _ = writeln!(h, "</div>");

    let smallest = |backend: &str| pivot.datasets(backend).first().copied();
    let _ = writeln!(h, "<h2>Per operation</h2>");
    for op in OPERATIONS {
        let _ = writeln!(h, "<h3><code>{op}</code></h3><div class=\"charts\">");
        let latency: Vec<Bar> = BACKENDS
            .iter()
            .map(|b| Bar {
                label: (*b).to_owned(),
                value: smallest(b)
                    .and_then(|d| pivot.get(op, b, d, 1))
                    .map(|m| m.median_ns),
                color: color_of(b),
            })
            .collect();
        let plotted = latency.iter().filter(|b| b.value.is_some()).count();
        figure(
            &mut h,
            charts::bars(
                &format!("{op}: latency, 1 task"),
                "median latency",
                Unit::Nanos,
                &latency,
                None,
            ),
            plotted,
            "Median latency per call at concurrency 1, smallest dataset (log scale).",
        )?;
        let throughput: Vec<Bar> = BACKENDS
            .iter()
            .map(|b| Bar {
                label: (*b).to_owned(),
                value: smallest(b)
                    .and_then(|d| pivot.get(op, b, d, 16))
                    .map(|m| m.calls_per_second()),
                color: color_of(b),
            })
            .collect();
        let plotted = throughput.iter().filter(|b| b.value.is_some()).count();
        figure(
            &mut h,
            charts::bars(
                &format!("{op}: throughput, 16 tasks"),
                "calls per second",
                Unit::Rate,
                &throughput,
                None,
            ),
            plotted,
            "Calls per second with 16 calls in flight, smallest dataset (log scale).",
        )?;
        if is_point_operation(op) {
            let ratios: Vec<Bar> = BACKENDS
                .iter()
                .map(|b| Bar {
                    label: format!("{b} / {}", best_baseline_for(b, op).map_or("?", |p| p.0)),
                    value: smallest(b)
                        .and_then(|d| pivot.best_ratio(op, b, d, 1))
                        .map(|r| r.latency_ratio()),
                    color: color_of(b),
                })
                .collect();
            let plotted = ratios.iter().filter(|b| b.value.is_some()).count();
            figure(
                &mut h,
                charts::bars(
                    &format!("{op}: latency / best client"),
                    "latency ratio",
                    Unit::Factor,
                    &ratios,
                    Some(1.0),
                ),
                plotted,
                "Backend latency over the best client's baseline on its engine at concurrency 1 (dashed: 1x).",
            )?;
        }
        let _ = writeln!(h, "</div>");
        let _ = writeln!(
            h,
            "<table><tr><th>Backend</th><th>Records</th><th>c1 latency</th><th>c1 calls/s</th><th>c16 batch</th><th>c16 calls/s</th><th>vs best c1</th><th>vs best c16</th><th>vs same client c1</th><th>vs same client c16</th></tr>"
        );
        for backend in BACKENDS {
            let sizes = pivot.datasets(backend);
            if sizes.is_empty() {
                let _ = writeln!(
                    h,
                    "<tr><td>{backend}</td><td colspan=\"9\">{}</td></tr>",
                    escape(&not_measured(report, backend))
                );
            }
            for d in sizes {
                let cell = |c: u64| pivot.get(op, backend, d, c);
                let lat = |c| cell(c).map_or("—".to_owned(), |m| nanos(m.median_ns));
                let rate = |c| {
                    cell(c).map_or("—".to_owned(), |m| calls_per_second(m.calls_per_second()))
                };
                let show = |r: Option<super::pivot::Ratio>| {
                    r.map_or("—".to_owned(), |r| {
                        format!("{:.2}x ({})", r.latency_ratio(), r.engine)
                    })
                };
                let best = |c| show(pivot.best_ratio(op, backend, d, c));
                let same = |c| show(pivot.ratio(op, backend, d, c));
                let _ = writeln!(
                    h,
                    "<tr><td>{backend}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    dataset_label(d),
                    lat(1),
                    rate(1),
                    lat(16),
                    rate(16),
                    best(1),
                    best(16),
                    same(1),
                    same(16)
                );
            }
        }
        let _ = writeln!(h, "</table>");
    }
    let _ = writeln!(h, "<h2>External anchors</h2>");
    match report.manifest.as_ref().map(|m| m.anchors.as_slice()) {
        Some(anchors) if !anchors.is_empty() => {
            let _ = writeln!(
                h,
                "<table><tr><th>Tool</th><th>Engine</th><th>Operation</th><th>Latency per call</th><th>Command</th></tr>"
            );
            for a in anchors {
                let figure = a.latency_ns.map_or_else(
                    || format!("not measured ({})", a.note.as_deref().unwrap_or("?")),
                    nanos,
                );
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&a.tool),
                    escape(&a.engine),
                    escape(&a.operation),
                    escape(&figure),
                    escape(&a.command)
                );
            }
            let _ = writeln!(h, "</table>");
        }
        _ => {
            let _ = writeln!(h, "<p>Not run in this run.</p>");
        }
    }
    if let Some(peers) = &report.peers {
        peers_section(&mut h, peers);
    }
    let _ = writeln!(h, "<h2>Method</h2><ul>");
    for line in METHOD {
        let _ = writeln!(h, "<li>{}</li>", escape(line));
    }
    let _ = writeln!(
        h,
        "</ul><h2>Reproduce</h2><pre>{}</pre></body></html>",
        escape(COMMANDS)
    );
    Ok(h)
}
