//! The checks of a chapter's values: each as the window checks the same value, with the
//! span of the offending key.

use std::ops::Range;
use std::path::Path;

use super::{ChapterView, ModelChoice, RawChapter};
use crate::app::latent::{BETAS, LEVELS, LatentMode};
use crate::app::markov::MAX_N;
use crate::app::settings::{ElboAxis, MAX_GUIDANCE, SamplerKind, SourceChoice, Tab};
use crate::diffusion::discrete::DiscreteKind;
use crate::diffusion::finite::{MAX_WINDOW_STATES, Preset};
use crate::diffusion::schedule::{MAX_STEPS, MIN_STEPS};
use crate::diffusion::{Schedule, ScheduleKind};
use crate::model::classes::ClassChoice;

/// A field's span and what is wrong with it.
pub(super) type Bad = (Range<usize>, String);

/// The view a chapter describes, every value checked as the window checks it.
pub(super) fn check(raw: &RawChapter, folder: &Path) -> Result<ChapterView, Bad> {
    let mut view = ChapterView::default();
    if let Some(data) = &raw.data {
        view.source = source_of(data.get_ref(), folder).map_err(|m| (data.span(), m))?;
    }
    if let Some(tab) = &raw.tab {
        view.tab = Tab::from_name(tab.get_ref()).ok_or_else(|| {
            (
                tab.span(),
                format!(
                    "unknown tab '{}' (valid: {})",
                    tab.get_ref(),
                    Tab::ALL.map(Tab::name).join(", ")
                ),
            )
        })?;
    }
    let mut last_schedule_span = 0..0;
    if let Some(kind) = &raw.schedule {
        view.schedule.kind = kind
            .get_ref()
            .parse()
            .map_err(|e| (kind.span(), format!("{e}")))?;
        last_schedule_span = kind.span();
    }
    if let Some(steps) = &raw.steps {
        let max = crate::app::settings::MAX_WINDOW_STEPS.min(MAX_STEPS);
        if !(MIN_STEPS..=max).contains(steps.get_ref()) {
            return Err((
                steps.span(),
                format!("T must be in {MIN_STEPS}..={max}, got {}", steps.get_ref()),
            ));
        }
        view.schedule.steps = *steps.get_ref();
        last_schedule_span = steps.span();
    }
    for (value, slot) in [
        (&raw.beta_start, &mut view.schedule.beta_start),
        (&raw.beta_end, &mut view.schedule.beta_end),
        (&raw.beta, &mut view.schedule.beta),
    ] {
        if let Some(v) = value {
            *slot = Some(*v.get_ref());
            last_schedule_span = v.span();
        }
    }
    view.schedule.zero_terminal_snr = raw.zero_terminal_snr.unwrap_or(false);
    // The schedule is checked as the window checks it, at its last key.
    Schedule::new(&view.schedule).map_err(|e| (last_schedule_span, format!("schedule: {e}")))?;
    let steps = view.schedule.steps;
    if let Some(overlay) = &raw.overlay {
        view.overlay.clear();
        for kind in overlay {
            let k: ScheduleKind = kind
                .get_ref()
                .parse()
                .map_err(|e| (kind.span(), format!("{e}")))?;
            if !view.overlay.contains(&k) {
                view.overlay.push(k);
            }
        }
    }
    view.t = view.t.min(steps);
    if let Some(t) = &raw.t {
        if *t.get_ref() > steps {
            return Err((t.span(), format!("t = {} is beyond T = {steps}", t.get_ref())));
        }
        view.t = *t.get_ref();
    }
    if let Some(play) = &raw.play {
        let [from, to] = *play.get_ref();
        if from >= to || to > steps {
            return Err((
                play.span(),
                format!("play = [{from}, {to}] must have from < to ≤ T = {steps}"),
            ));
        }
        view.play = Some((from, to));
        if raw.t.is_none() {
            view.t = from;
        }
    }
    if let Some(speed) = &raw.speed {
        let v = *speed.get_ref();
        if !(v.is_finite() && (1.0..=2000.0).contains(&v)) {
            return Err((
                speed.span(),
                format!("speed must be in 1..=2000 steps per second, got {v}"),
            ));
        }
        view.speed = v;
    }
    if let Some(model) = &raw.model {
        view.model = model_of(model.get_ref(), &view.source, folder).map_err(|m| (model.span(), m))?;
    }
    check_reverse_and_elbo(raw, &mut view)?;
    Ok(view)
}

/// The sampler, DDIM's parameters and the ELBO's choices of a chapter.
fn check_reverse_and_elbo(raw: &RawChapter, view: &mut ChapterView) -> Result<(), Bad> {
    let steps = view.schedule.steps;
    if let Some(sampler) = &raw.sampler {
        view.sampler =
            <SamplerKind as clap::ValueEnum>::from_str(sampler.get_ref(), false).map_err(|_| {
                (
                    sampler.span(),
                    format!(
                        "unknown sampler '{}' (valid: {})",
                        sampler.get_ref(),
                        sampler_names()
                    ),
                )
            })?;
    }
    view.ddim_steps = view.ddim_steps.min(steps);
    if let Some(k) = &raw.ddim_steps {
        if !(1..=steps).contains(k.get_ref()) {
            return Err((
                k.span(),
                format!("ddim_steps must be in 1..=T = {steps}, got {}", k.get_ref()),
            ));
        }
        view.ddim_steps = *k.get_ref();
    }
    if let Some(eta) = &raw.ddim_eta {
        let v = *eta.get_ref();
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            return Err((eta.span(), format!("ddim_eta must be in [0, 1], got {v}")));
        }
        view.ddim_eta = v;
    }
    if let Some(class) = &raw.class {
        view.class = match class.get_ref().as_str() {
            "any" => ClassChoice::Any,
            other => ClassChoice::Class(other.parse().map_err(|_| {
                (
                    class.span(),
                    format!("class '{other}' is not a class number or any"),
                )
            })?),
        };
    }
    if let Some(w) = &raw.guidance {
        let v = *w.get_ref();
        if !(v.is_finite() && (0.0..=MAX_GUIDANCE).contains(&v)) {
            return Err((
                w.span(),
                format!("guidance must be in [0, {MAX_GUIDANCE}], got {v}"),
            ));
        }
        view.guidance = v;
    }
    view.sample = raw.sample.unwrap_or(false);
    if let Some(axis) = &raw.elbo_axis {
        view.elbo_axis = match axis.get_ref().as_str() {
            "step" => ElboAxis::Step,
            "log-snr" => ElboAxis::LogSnr,
            other => {
                return Err((
                    axis.span(),
                    format!("unknown elbo_axis '{other}' (valid: step, log-snr)"),
                ));
            }
        };
    }
    view.elbo_cumulative = raw.elbo_cumulative.unwrap_or(false);
    markov(raw, view)?;
    if let Some(variance) = &raw.elbo_variance {
        view.posterior_variance = match variance.get_ref().as_str() {
            "beta" => false,
            "posterior" => true,
            other => {
                return Err((
                    variance.span(),
                    format!("unknown elbo_variance '{other}' (valid: beta, posterior)"),
                ));
            }
        };
    }
    Ok(())
}

/// The Markov chain tab's keys: `preset`, `states` (`K`) and `n`; `discrete` (uniform or
/// absorbing) for the digits' D3PM chain instead.
fn markov(raw: &RawChapter, view: &mut ChapterView) -> Result<(), Bad> {
    if let Some(kind) = &raw.discrete {
        view.discrete = Some(DiscreteKind::from_name(kind.get_ref()).ok_or_else(|| {
            (
                kind.span(),
                format!(
                    "unknown discrete chain '{}' (valid: uniform, absorbing)",
                    kind.get_ref()
                ),
            )
        })?);
    }
    if let Some(preset) = &raw.preset {
        view.markov_preset = Preset::from_name(preset.get_ref()).ok_or_else(|| {
            (
                preset.span(),
                format!(
                    "unknown preset '{}' (valid: {})",
                    preset.get_ref(),
                    Preset::ALL.map(Preset::name).join(", ")
                ),
            )
        })?;
    }
    if let Some(states) = &raw.states {
        let k = *states.get_ref();
        if !(2..=MAX_WINDOW_STATES).contains(&k) {
            return Err((
                states.span(),
                format!("states must be in 2..={MAX_WINDOW_STATES}, got {k}"),
            ));
        }
        view.markov_states = k;
    }
    if let Some(n) = &raw.n {
        if *n.get_ref() > MAX_N {
            return Err((n.span(), format!("n must be in 0..={MAX_N}, got {}", n.get_ref())));
        }
        view.n = *n.get_ref();
    }
    check_latent(raw, view)
}

/// The VAE → VDM tab's keys: `latent` (vae or mhvae), `vae_beta`, `levels` and `switches`.
fn check_latent(raw: &RawChapter, view: &mut ChapterView) -> Result<(), Bad> {
    if let Some(latent) = &raw.latent {
        view.latent = LatentMode::from_name(latent.get_ref()).ok_or_else(|| {
            (
                latent.span(),
                format!("unknown latent model '{}' (valid: vae, mhvae)", latent.get_ref()),
            )
        })?;
    }
    if let Some(beta) = &raw.vae_beta {
        let b = *beta.get_ref();
        if !(b.is_finite() && BETAS.contains(&b)) {
            return Err((
                beta.span(),
                format!("vae_beta must be in {}..={}, got {b}", BETAS.start(), BETAS.end()),
            ));
        }
        view.vae_beta = b;
    }
    if let Some(levels) = &raw.levels {
        let t = *levels.get_ref();
        if !LEVELS.contains(&t) {
            return Err((
                levels.span(),
                format!("levels must be in {}..={}, got {t}", LEVELS.start(), LEVELS.end()),
            ));
        }
        view.levels = t;
    }
    if let Some(switches) = &raw.switches {
        let k = *switches.get_ref();
        if !(1..=3).contains(&k) {
            return Err((
                switches.span(),
                format!("switches must be 1, 2 or 3 (how many of the three are on), got {k}"),
            ));
        }
        view.switches = k;
    }
    Ok(())
}

/// The data a chapter names: a built-in name, or a file relative to the deck's folder
/// that must exist.
fn source_of(name: &str, folder: &Path) -> Result<SourceChoice, String> {
    if let Some(source) = SourceChoice::from_name(name) {
        return Ok(source);
    }
    let path = folder.join(name);
    if path.is_file() {
        return Ok(SourceChoice::File(path));
    }
    if path.exists() {
        return Err(format!("data '{}' is a folder, not a file", path.display()));
    }
    let looks_like_file = name.contains(['/', '\\']) || Path::new(name).extension().is_some();
    Err(if looks_like_file {
        format!("data file '{}' does not exist", path.display())
    } else {
        format!(
            "unknown data '{name}' (valid: {}, or an image or points CSV file)",
            crate::scene::BUILTIN_NAMES
        )
    })
}

/// The denoiser a chapter names: `learned`, `shipped`, `ideal` or a weights file.
fn model_of(name: &str, source: &SourceChoice, folder: &Path) -> Result<ModelChoice, String> {
    match name {
        "learned" => Ok(ModelChoice::Learned),
        "ideal" => Ok(ModelChoice::Ideal),
        "shipped" => {
            let shipped = match source {
                SourceChoice::Digits => Some("digits"),
                SourceChoice::Glyphs => Some("glyphs"),
                SourceChoice::Dataset(name) => crate::model::shipped::names().find(|n| n == name),
                _ => None,
            };
            match shipped {
                Some(_) => Ok(ModelChoice::Shipped),
                None => Err(format!(
                    "no shipped weights for data '{}' (shipped: {})",
                    source.name(),
                    crate::model::shipped::names().collect::<Vec<_>>().join(", ")
                )),
            }
        }
        file => {
            let path = folder.join(file);
            if path.is_file() {
                Ok(ModelChoice::File(path))
            } else {
                Err(format!(
                    "model '{file}' is not learned, shipped, ideal or an existing weights file ({} does not exist)",
                    path.display()
                ))
            }
        }
    }
}

/// The samplers' names, for messages.
fn sampler_names() -> String {
    SamplerKind::all()
        .iter()
        .filter_map(|k| clap::ValueEnum::to_possible_value(k).map(|v| v.get_name().to_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}
