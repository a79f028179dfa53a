//! A chapter as TOML text ("Save view as chapter" appends it to a deck file; written by
//! hand so the lecturer's file keeps its comments and layout).

use std::fmt::Write as _;
use std::path::Path;

use super::{Chapter, ModelChoice};
use crate::app::settings::{ElboAxis, SourceChoice};

/// A string as a TOML value: a literal string when it can be one (TeX reads best without
/// doubled backslashes), a basic string with escapes otherwise.
#[must_use]
pub fn toml_string(s: &str) -> String {
    if !s.contains(['\'', '\n', '\r']) && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `[[chapter]]` table of a chapter, every key of its view written out, so that
/// opening it gives the same view whatever the defaults. `folder` is the deck's: files
/// inside it are written relative to it.
#[must_use]
pub fn chapter_toml(chapter: &Chapter, folder: &Path) -> String {
    let v = &chapter.view;
    let relative = |p: &Path| p.strip_prefix(folder).unwrap_or(p).display().to_string();
    let mut out = String::from("[[chapter]]\n");
    let mut line = |key: &str, value: String| {
        let _ = writeln!(out, "{key} = {value}");
    };
    line("title", toml_string(&chapter.title));
    let formulas: Vec<String> = chapter.formulas.iter().map(|f| toml_string(f)).collect();
    line("formulas", format!("[{}]", formulas.join(", ")));
    line("caption", toml_string(&chapter.caption));
    let data = match &v.source {
        SourceChoice::File(path) => relative(path),
        other => other.name(),
    };
    line("data", toml_string(&data));
    line("tab", toml_string(v.tab.name()));
    let s = &v.schedule;
    line("schedule", toml_string(s.kind.name()));
    line("steps", s.steps.to_string());
    for (key, value) in [
        ("beta_start", s.beta_start),
        ("beta_end", s.beta_end),
        ("beta", s.beta),
    ] {
        if let Some(b) = value {
            line(key, format!("{b:?}"));
        }
    }
    line("zero_terminal_snr", s.zero_terminal_snr.to_string());
    let overlay: Vec<String> = v.overlay.iter().map(|k| toml_string(k.name())).collect();
    line("overlay", format!("[{}]", overlay.join(", ")));
    line("t", v.t.to_string());
    if let Some((from, to)) = v.play {
        line("play", format!("[{from}, {to}]"));
    }
    line("speed", format!("{:?}", v.speed));
    let model = match &v.model {
        ModelChoice::Learned => "learned".to_owned(),
        ModelChoice::Shipped => "shipped".to_owned(),
        ModelChoice::Ideal => "ideal".to_owned(),
        ModelChoice::File(path) => relative(path),
    };
    line("model", toml_string(&model));
    let sampler =
        clap::ValueEnum::to_possible_value(&v.sampler).map_or_else(String::new, |p| p.get_name().to_owned());
    line("sampler", toml_string(&sampler));
    line("ddim_steps", v.ddim_steps.to_string());
    line("ddim_eta", format!("{:?}", v.ddim_eta));
    line(
        "class",
        toml_string(&match v.class {
            crate::model::classes::ClassChoice::Any => "any".to_owned(),
            crate::model::classes::ClassChoice::Class(c) => c.to_string(),
        }),
    );
    line("guidance", format!("{:?}", v.guidance));
    line("sample", v.sample.to_string());
    let axis = match v.elbo_axis {
        ElboAxis::Step => "step",
        ElboAxis::LogSnr => "log-snr",
    };
    line("elbo_axis", toml_string(axis));
    line("elbo_cumulative", v.elbo_cumulative.to_string());
    line(
        "elbo_variance",
        toml_string(if v.posterior_variance { "posterior" } else { "beta" }),
    );
    line("preset", toml_string(v.markov_preset.name()));
    line("states", v.markov_states.to_string());
    line("n", v.n.to_string());
    if let Some(kind) = v.discrete {
        line("discrete", toml_string(kind.name()));
    }
    line("latent", toml_string(v.latent.name()));
    line("vae_beta", format!("{:?}", v.vae_beta));
    line("levels", v.levels.to_string());
    line("switches", v.switches.to_string());
    out
}
