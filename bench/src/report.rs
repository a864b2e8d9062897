//! Latency samples and the printed table.

use std::io::Write;
use std::time::Duration;

/// Latencies of one kind of request.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q`-quantile (nearest rank) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }
}

/// One measured figure on both engines.
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub sqlite: f64,
    pub postgres: Option<f64>,
}

/// Prints the table; the ratio is PostgreSQL's figure over SQLite's.
pub fn print(title: &str, rows: &[Row]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{title}")?;
    writeln!(
        out,
        "{:<52} {:>12} {:>12} {:>10}",
        "figure", "SQLite", "PostgreSQL", "PG/SQLite"
    )?;
    for row in rows {
        // A ratio below one needs its second decimal.
        let decimals = if row.unit == "ratio" { 2 } else { 1 };
        let pg = row
            .postgres
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"));
        let ratio = row
            .postgres
            .map_or_else(|| "-".to_owned(), |v| format!("{:.2}", v / row.sqlite));
        writeln!(
            out,
            "{:<52} {:>12} {:>12} {:>10}",
            format!("{} ({})", row.name, row.unit),
            format!("{:.decimals$}", row.sqlite),
            pg,
            ratio
        )?;
    }
    out.flush()
}

/// A line of the results that is not a figure (what failed, say).
pub fn note(line: &str) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{line}")
}

/// A progress line on stderr, so stdout holds only the figures.
pub fn progress(message: impl std::fmt::Display) {
    eprintln!("  .. {message}");
}

/// One figure measured on Ferry and on its peer.
pub struct Versus {
    pub name: String,
    pub unit: &'static str,
    pub ferry: f64,
    pub peer: f64,
    /// Whether a larger figure is better (rates) or worse (latencies).
    pub higher_is_better: bool,
}

/// Prints Ferry beside a peer; the last column is how many times better
/// Ferry is (above 1) or worse (below 1).
pub fn print_versus(title: &str, peer: &str, rows: &[Versus]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{title}")?;
    writeln!(
        out,
        "{:<52} {:>12} {:>12} {:>14}",
        "figure", "Ferry", peer, "Ferry better x"
    )?;
    for row in rows {
        let better = if row.higher_is_better {
            row.ferry / row.peer
        } else {
            row.peer / row.ferry
        };
        writeln!(
            out,
            "{:<52} {:>12.1} {:>12.1} {:>14.2}",
            format!("{} ({})", row.name, row.unit),
            row.ferry,
            row.peer,
            better
        )?;
    }
    out.flush()
}
