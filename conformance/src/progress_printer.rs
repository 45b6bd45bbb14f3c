//! [`ProgressPrinter`]: what a run shows on stderr as scenarios finish. On a terminal, a
//! progress bar with failures printed above it; otherwise (CI logs, pipes), plain lines a
//! log keeps: one per finished scenario and, for a failure, one more with its clauses and
//! the first line of its message.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use crate::runner::Progress;
use crate::verdict::Verdict;

/// Prints a run's progress; feed it every [`Progress`] of
/// [`run_catalogue`](crate::run_catalogue), then [`finish`](Self::finish) it.
pub struct ProgressPrinter {
    output: Output,
}

impl std::fmt::Debug for ProgressPrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.output {
            Output::Bar(_) => "bar",
            Output::Lines(_) => "lines",
        };
        f.debug_struct("ProgressPrinter")
            .field("output", &kind)
            .finish()
    }
}

enum Output {
    Bar(ProgressBar),
    Lines(Box<dyn Write + Send>),
}

impl ProgressPrinter {
    /// A bar when stderr is a terminal, plain lines to stderr otherwise, for a run of
    /// `total` scenarios.
    pub fn new(total: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}")
            {
                bar.set_style(style);
            }
            Self {
                output: Output::Bar(bar),
            }
        } else {
            Self::lines(Box::new(std::io::stderr()))
        }
    }

    /// Plain lines to `out`, whatever it is.
    pub fn lines(out: Box<dyn Write + Send>) -> Self {
        Self {
            output: Output::Lines(out),
        }
    }

    /// Shows that `progress.scenario` finished.
    pub fn observe(&mut self, progress: &Progress<'_>) {
        let failure = failure_line(progress);
        match &mut self.output {
            Output::Bar(bar) => {
                bar.inc(1);
                bar.set_message(format!("{} {}", progress.backend, progress.scenario.id));
                if let Some(line) = failure {
                    bar.println(line);
                }
            }
            Output::Lines(out) => {
                // A log that cannot be written to is no reason to stop the run.
                let _ = writeln!(out, "{}", finished_line(progress));
                if let Some(line) = failure {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
            }
        }
    }

    /// Clears the bar, if any.
    pub fn finish(self) {
        if let Output::Bar(bar) = self.output {
            bar.finish_and_clear();
        }
    }
}

/// `[3/133] memory tokens_store_then_get passed (0.2s)`.
fn finished_line(progress: &Progress<'_>) -> String {
    let verdict = match progress.run.verdict {
        Verdict::Passed => "passed",
        Verdict::Failed(_) => "FAILED",
        Verdict::NotClaimed(_) => "not claimed",
    };
    format!(
        "[{}/{}] {} {} {verdict} ({:.1}s)",
        progress.done,
        progress.total,
        progress.backend,
        progress.scenario.id,
        progress.run.duration.as_secs_f64()
    )
}

/// `FAIL memory kv_x (KV-1, KV-2): <first line of the message>`, for a failure.
fn failure_line(progress: &Progress<'_>) -> Option<String> {
    let Verdict::Failed(message) = &progress.run.verdict else {
        return None;
    };
    Some(format!(
        "FAIL {} {} ({}): {}",
        progress.backend,
        progress.scenario.id,
        progress.scenario.clauses.join(", "),
        message.lines().next().unwrap_or_default()
    ))
}
