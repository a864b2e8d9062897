//! The plot as SVG, one user unit a millimetre, so printing it at 100 %
//! gives true 25 mm/s and 10 mm/mV paper. Each trace is one `<polyline>`
//! carrying `data-lead` (and `data-rhythm` for the strip), and each label a
//! `<text class="lead-label">`, so a viewer can style or pick out leads.

use std::fmt::Write;

use super::layout::{self, Plot, TEXT};
use super::Ecg;

/// ECG paper's colours: light red minor lines, darker major lines.
pub(crate) const MINOR: [u8; 3] = [0xF6, 0xC8, 0xC8];
pub(crate) const MAJOR: [u8; 3] = [0xE4, 0x8C, 0x8C];

/// Draws `ecg` as an SVG document.
pub fn svg(ecg: &Ecg) -> String {
    render(&layout::plot(ecg))
}

fn render(plot: &Plot) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let (w, h) = (plot.width, plot.height);
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        out,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">"#,
            "\n",
            r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##,
            "\n"
        ),
        w = num(w),
        h = num(h)
    );
    grid(&mut out, plot);

    out.push_str(r##"<g class="calibration" fill="none" stroke="#000000" stroke-width="0.3">"##);
    out.push('\n');
    for pulse in &plot.pulses {
        let _ = writeln!(out, r#"<polyline points="{}"/>"#, points(pulse));
    }
    out.push_str("</g>\n");

    out.push_str(concat!(
        r##"<g class="traces" fill="none" stroke="#000000" stroke-width="0.3" "##,
        r#"stroke-linejoin="round" stroke-linecap="round">"#,
        "\n"
    ));
    for trace in &plot.traces {
        let rhythm = if trace.rhythm {
            r#" data-rhythm="true""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<polyline data-lead="{}"{rhythm} points="{}"/>"#,
            escape(trace.lead),
            points(&trace.points)
        );
    }
    out.push_str("</g>\n");

    let _ = writeln!(
        out,
        r##"<g font-family="Helvetica, Arial, sans-serif" font-size="{}" fill="#000000">"##,
        num(TEXT)
    );
    for label in &plot.labels {
        let class = if label.caption {
            "caption"
        } else {
            "lead-label"
        };
        let _ = writeln!(
            out,
            r#"<text class="{class}" x="{}" y="{}" xml:space="preserve">{}</text>"#,
            num(label.x),
            num(label.y),
            escape(&label.text)
        );
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// Minor lines every millimetre, then major lines every 5 mm over them.
fn grid(out: &mut String, plot: &Plot) {
    let [left, top, width, height] = plot.grid;
    let (right, bottom) = (left + width, top + height);
    for (class, step, colour, stroke) in
        [("grid-minor", 1, MINOR, 0.1), ("grid-major", 5, MAJOR, 0.2)]
    {
        let _ = write!(
            out,
            r##"<path class="{class}" fill="none" stroke="#{:02x}{:02x}{:02x}" stroke-width="{stroke}" d=""##,
            colour[0], colour[1], colour[2]
        );
        let columns = (width.round() as usize) / step;
        for i in 0..=columns {
            let x = left + (i * step) as f64;
            let _ = write!(out, "M{} {}V{}", num(x), num(top), num(bottom));
        }
        let rows = (height.round() as usize) / step;
        for i in 0..=rows {
            let y = top + (i * step) as f64;
            let _ = write!(out, "M{} {}H{}", num(left), num(y), num(right));
        }
        out.push_str("\"/>\n");
    }
}

fn points(points: &[(f64, f64)]) -> String {
    let mut s = String::with_capacity(points.len() * 13);
    for (i, (x, y)) in points.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{},{}", num(*x), num(*y));
    }
    s
}

/// A coordinate to 0.01 mm, without trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Escapes text for element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_numbers_are_short() {
        assert_eq!(escape(r#"a<b & "c"'"#), "a&lt;b &amp; &quot;c&quot;&apos;");
        assert_eq!(num(12.0), "12");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(1.23456), "1.23");
    }
}
