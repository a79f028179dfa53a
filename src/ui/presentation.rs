//! Presentation mode (F5; Esc leaves): only the lesson on screen — the live equation in
//! large type, the tab's views as large as the screen allows, a one-line caption, play
//! and the `t` slider. Every key keeps working; the app's keys do not depend on the mode.
//!
//! [`presentation_ui`] lays out into the main window; [`audience_ui`] the same picture into
//! the presenter view's audience window (`super::audience`), whose Esc button closes it.

use egui::{FontId, RichText, TextStyle};

use super::math_panel::shared_cache;
use super::tex::{tex_live_ui, tex_ui};
use super::{
    compare_tab, d3pm_view, elbo_tab, forward_tab, latent_tab, markov_tab, reverse_tab, theme, top_bar,
    training_view,
};
use crate::app::settings::{MarkovMode, Settings, Tab};
use crate::app::{Command, Model};

/// The equation's em size at 720 points of height (it grows with the screen).
const EQUATION_SIZE: f32 = 30.0;

/// The ELBO, term by term (the one static equation of the mode).
const ELBO_TEX: &str = r"\log p(x_0) \ge \mathbb{E}_{q}\log p_\theta(x_0\mid x_1) - D_{KL}(q(x_T\mid x_0)\,\|\,p(x_T)) - \sum_{t=2}^{T}\mathbb{E}_{q}\,D_{KL}(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t))";

/// The closed form with one ε for every row (the Compare tab).
const COMPARE_TEX: &str = r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon \quad\text{(the same } \epsilon \text{ in every cell)}";

/// The distribution after `n` steps and its distance to the limit (the Markov chain tab).
const MARKOV_TEX: &str = r"p_n = p_0 P^n,\quad n = \slot{000},\quad \|p_n - \pi\|_1 = \slot{0.00e-00}";

/// Which window the lesson is laid out in: what its Esc button leaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Screen {
    /// The main window in presentation mode (Esc leaves the mode).
    Main,
    /// The presenter view's audience window (Esc closes it).
    Audience,
}

/// Lays out presentation mode in the main window's `ui`.
pub fn presentation_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
) {
    lesson_ui(ui, settings, model, commands, Screen::Main);
}

/// Lays out presentation mode's picture in the audience window's `ui`.
pub fn audience_ui(ui: &mut egui::Ui, settings: &mut Settings, model: &Model, commands: &mut Vec<Command>) {
    lesson_ui(ui, settings, model, commands, Screen::Audience);
}

/// The lesson: equation, views, caption, play and `t`.
fn lesson_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
    screen: Screen,
) {
    let height = ui.available_rect_before_wrap().height();
    let size = (EQUATION_SIZE * height / 720.0).clamp(24.0, 56.0);
    egui::Panel::top("present_equation")
        .show_separator_line(false)
        .show(ui, |ui| {
            ui.add_space(6.0);
            ui.vertical_centered(|ui| equation_ui(ui, settings, model, size));
            ui.add_space(4.0);
        });
    egui::Panel::bottom("present_controls")
        .show_separator_line(false)
        .show(ui, |ui| controls_ui(ui, settings, model, commands, size, screen));
    egui::CentralPanel::default().show(ui, |ui| match settings.tab {
        Tab::Vae => latent_tab::views_ui(ui, settings, model),
        Tab::Markov => markov_tab::views_ui(ui, settings, model, commands),
        Tab::Forward => forward_tab::views_ui(ui, settings, model),
        Tab::Reverse => match reverse_tab::training_in_centre(model) {
            Some(training) => training_view::training_ui(ui, model, training),
            None => reverse_tab::views_ui(ui, settings, model),
        },
        Tab::Elbo => elbo_tab::views_ui(ui, settings, model),
        Tab::Compare => compare_tab::grid_ui(ui, model),
    });
}

/// The tab's equation, typeset, with today's numbers in it.
fn equation_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model, size: f32) {
    let cache = shared_cache(ui.ctx());
    let mut cache = cache.lock();
    let s = &model.schedule;
    // Fixed decimals: every coefficient lies in [0, 1] and fits its slot, so scrubbing
    // never re-typesets the formula.
    let fixed = |v: f64| format!("{v:.4}");
    match settings.tab {
        Tab::Vae => {
            tex_ui(
                ui,
                &mut cache,
                latent_tab::present_tex(settings.latent.mode),
                size * 0.8,
            );
        }
        Tab::Markov if settings.markov.mode == MarkovMode::Digits => {
            let t = settings.t.min(s.steps());
            tex_live_ui(
                ui,
                &mut cache,
                d3pm_view::present_tex(settings.d3pm.kind),
                &[&t.to_string(), &fixed(s.alpha_bar(t))],
                size,
            );
        }
        Tab::Markov => {
            let n = settings.markov.n.min(crate::app::markov::MAX_N);
            tex_live_ui(
                ui,
                &mut cache,
                MARKOV_TEX,
                // Two significant digits: the distance falls through many decades.
                &[&n.to_string(), &format!("{:.2e}", model.markov.distances[n])],
                size,
            );
        }
        Tab::Forward => {
            let c = s.q_sample_coefs(settings.t);
            tex_live_ui(
                ui,
                &mut cache,
                r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon = \slot{0.0000}\,x_0 + \slot{0.0000}\,\epsilon",
                &[&fixed(c.signal), &fixed(c.noise)],
                size,
            );
        }
        Tab::Reverse => {
            let t = model
                .learning
                .shown_frame(settings.t)
                .map_or(settings.t, |f| f.t)
                .min(s.steps());
            let c = s.q_sample_coefs(t);
            let guided = model.learning.chain.as_ref().and_then(|c| c.guided.as_ref());
            match guided {
                // A guided chain: the prediction it steps with is ε̃.
                Some((g, _)) => tex_live_ui(
                    ui,
                    &mut cache,
                    r"\hat x_0 = \frac{x_t - \slot{0.0000}\,\tilde\epsilon}{\slot{0.0000}},\quad \tilde\epsilon = \slot{0.00}\,\epsilon_\theta(x_t, t, c) - \slot{0.00}\,\epsilon_\theta(x_t, t, \varnothing)",
                    &[
                        &fixed(c.noise),
                        &fixed(c.signal),
                        &format!("{:.2}", 1.0 + g.weight),
                        &format!("{:.2}", g.weight),
                    ],
                    size,
                ),
                None => tex_live_ui(
                    ui,
                    &mut cache,
                    r"\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}} = \frac{x_t - \slot{0.0000}\,\epsilon_\theta(x_t, t)}{\slot{0.0000}}",
                    &[&fixed(c.noise), &fixed(c.signal)],
                    size,
                ),
            };
        }
        Tab::Elbo => {
            tex_ui(ui, &mut cache, ELBO_TEX, size * 0.8);
        }
        Tab::Compare => {
            tex_ui(ui, &mut cache, COMPARE_TEX, size);
        }
    }
}

/// What the class is looking at, in one line.
fn caption(settings: &Settings, model: &Model) -> String {
    match settings.tab {
        Tab::Vae => latent_tab::present_caption(&settings.latent).to_owned(),
        Tab::Markov if settings.markov.mode == MarkovMode::Digits => d3pm_view::PRESENT_CAPTION.to_owned(),
        Tab::Markov => {
            "A finite Markov chain: P, the distribution p_n = p_0 Pⁿ against 10⁴ sampled chains, and its distance to π."
                .to_owned()
        }
        Tab::Forward => {
            "Left: the Markov chain, fresh noise every step. Right: the closed form, one jump with one ε. \
                         Same distribution at every t."
                .to_owned()
        }
        Tab::Reverse
            if model.learning.chain.is_none() && reverse_tab::training_in_centre(model).is_none() =>
        {
            "Space: run the reverse chain from x_T ~ N(0, I); the model removes the noise step by step."
                .to_owned()
        }
        Tab::Reverse => {
            "Left: x_t, the chain from noise. Right: x̂_0, what the model believes x_0 is.".to_owned()
        }
        Tab::Elbo => {
            "The ELBO term by term: reconstruction, prior matching, and the denoising matching of every step."
                .to_owned()
        }
        Tab::Compare => {
            "Rows: schedules. Columns: t. One ε for every cell — rows differ only in ᾱ_t.".to_owned()
        }
    }
}

/// The caption, then play and the `t` slider in large type, and any error.
fn controls_ui(
    ui: &mut egui::Ui,
    settings: &mut Settings,
    model: &Model,
    commands: &mut Vec<Command>,
    size: f32,
    screen: Screen,
) {
    let text = (size * 0.7).max(18.0);
    let style = ui.style_mut();
    for text_style in [TextStyle::Body, TextStyle::Button] {
        style.text_styles.insert(text_style, FontId::proportional(text));
    }
    style.spacing.interact_size.y = text + 8.0;
    ui.vertical_centered(|ui| {
        ui.add(egui::Label::new(RichText::new(caption(settings, model))).truncate());
    });
    if let Some(error) = &model.status.error {
        ui.add(
            egui::Label::new(RichText::new(error).color(theme::error_color(ui.visuals().dark_mode)))
                .truncate(),
        );
    }
    if settings.tab == Tab::Vae {
        // No `t` here: the tab's own controls (β, or T and the switches) and training.
        latent_tab::present_controls_ui(ui, settings, model, commands);
        ui.add_space(2.0);
        return;
    }
    ui.horizontal(|ui| {
        top_bar::play_button(ui, settings, model, commands);
        let leave_width = 4.0 * text;
        ui.spacing_mut().slider_width = (ui.available_width() - leave_width - 6.0 * text).max(120.0);
        let (value, max, name) = if settings.steps_n() {
            (&mut settings.markov.n, crate::app::markov::MAX_N, "n")
        } else {
            (&mut settings.t, model.schedule.steps(), "t")
        };
        ui.add(egui::Slider::new(value, 0..=max).text(name))
            .on_hover_text("← → one step, Shift+← → ten, Home/End");
        let hover = match screen {
            Screen::Main => "Leave presentation mode (Esc)",
            Screen::Audience => "Close the audience window (Esc, F6)",
        };
        if ui
            .button(RichText::new("Esc").weak())
            .on_hover_text(hover)
            .clicked()
        {
            match screen {
                Screen::Main => settings.lecture.presenting = false,
                Screen::Audience => settings.lecture.audience = false,
            }
        }
    });
    ui.add_space(2.0);
}
