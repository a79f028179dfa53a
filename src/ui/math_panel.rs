//! "The math": the lecture's formulas for what is on screen, with today's numbers.

use egui::RichText;

use crate::app::Model;
use crate::app::settings::{Settings, Tab};
use crate::cli::format_sig;

/// Lays out the math panel.
pub fn math_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let s = &model.schedule;
    let t = settings.t;
    let formula = |ui: &mut egui::Ui, text: &str| {
        ui.label(RichText::new(text).size(17.0));
    };
    let note = |ui: &mut egui::Ui, text: &str| {
        ui.label(RichText::new(text).weak());
    };
    ui.heading("The math");
    ui.add_space(4.0);
    ui.label(RichText::new("Forward process (a Markov chain)").strong());
    formula(ui, "q(x_t | x_{t−1}) = N(√α_t x_{t−1}, β_t I)");
    formula(ui, "x_t = √α_t x_{t−1} + √(1−α_t) ε_t");
    note(
        ui,
        "Each step shrinks the signal and adds fresh noise ε_t ~ N(0, I): the left view.",
    );
    ui.add_space(6.0);
    ui.label(RichText::new("Closed form").strong());
    formula(ui, "ᾱ_t = ∏_{i≤t} α_i");
    formula(ui, "q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I)");
    formula(ui, "x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε");
    note(
        ui,
        "Sums of Gaussians are Gaussian: t steps collapse into one jump with one ε — the right view. Both views have the same distribution at every t, not the same samples.",
    );
    ui.add_space(6.0);
    ui.label(RichText::new("Signal-to-noise ratio").strong());
    formula(ui, "SNR(t) = ᾱ_t / (1 − ᾱ_t)");
    note(
        ui,
        &format!(
            "now: ᾱ_{t} = {}, SNR = {}, log SNR = {}",
            format_sig(s.alpha_bar(t), 4),
            format_sig(s.snr(t), 4),
            format_sig(s.log_snr(t), 4)
        ),
    );
    ui.add_space(6.0);
    ui.label(RichText::new("Prior matching").strong());
    formula(ui, "KL(q(x_T | x_0) ‖ N(0, I))");
    note(
        ui,
        "The ELBO's prior term: zero only when ᾱ_T = 0. A schedule that leaves ᾱ_T large leaves x_0 visible in x_T, and sampling from N(0, I) starts from the wrong place.",
    );
    if settings.tab == Tab::Compare {
        ui.add_space(6.0);
        ui.label(RichText::new("Comparing schedules").strong());
        note(
            ui,
            "Every cell is √ᾱ_t x_0 + √(1−ᾱ_t) ε with the same ε: rows differ only in ᾱ_t.",
        );
    }
    ui.add_space(6.0);
    ui.label(RichText::new("Posterior (used by the reverse chain)").strong());
    formula(ui, "q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I)");
    formula(ui, "β̃_t = (1 − ᾱ_{t−1}) β_t / (1 − ᾱ_t)");
    if t >= 1 {
        note(
            ui,
            &format!("now: β̃_{t} = {}", format_sig(s.posterior_variance(t), 4)),
        );
    }
}
