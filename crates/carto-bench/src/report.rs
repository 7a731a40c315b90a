//! The table of results, printed as each line is measured and once more at the end.

#[derive(Default)]
pub struct Report {
    pub lines: Vec<[String; 6]>,
}

impl Report {
    pub fn add(&mut self, what: &str, ours: String, reference: String, ratio: f64, target: &str) {
        let ratio = if ratio.is_finite() {
            format!("{ratio:.2}")
        } else {
            "-".into()
        };
        let verdict = verdict(target, &ratio);
        let line = [
            what.to_owned(),
            ours,
            reference,
            ratio,
            target.to_owned(),
            verdict,
        ];
        println!("  {}", line.join(" | "));
        self.lines.push(line);
    }

    pub fn print(&self) {
        println!();
        println!("| what | carto-rs | reference | ratio | target | met |");
        println!("|---|---|---|---:|---|---|");
        for l in &self.lines {
            println!("| {} |", l.join(" | "));
        }
    }
}

/// `yes`/`no` for a target of the form `<= x` or `>= x`.
pub fn verdict(target: &str, ratio: &str) -> String {
    let Ok(r) = ratio.parse::<f64>() else {
        return "-".into();
    };
    let parse = |s: &str| s.trim().parse::<f64>().ok();
    let met = if let Some(t) = target.strip_prefix("<=").and_then(parse) {
        r <= t
    } else if let Some(t) = target.strip_prefix(">=").and_then(parse) {
        r >= t
    } else {
        return "-".into();
    };
    if met { "yes" } else { "no" }.into()
}
