//! "The math": the lecture's formulas for what is on screen, typeset from TeX (drawn by
//! [`crate::ui::tex`]), with today's numbers in live slots; the formulas follow
//! `shared/MATH.md` and the lecture (`shared/seed/diffusion-lecture.md`).

use std::sync::Arc;

use egui::RichText;
use egui::mutex::Mutex;

use crate::app::Model;
use crate::app::settings::{Settings, Tab};
use crate::format::format_sig;
use crate::ui::tex::{TexCache, tex_live_ui, tex_ui};

/// The em size of the panel's formulas, in points.
pub const FORMULA_SIZE: f32 = 17.0;

/// One block of the panel: a heading, its formulas (TeX), a note in words.
#[derive(Debug, Clone, Copy)]
pub struct MathSection {
    /// The heading.
    pub title: &'static str,
    /// Display-style TeX, one formula a line.
    pub formulas: &'static [&'static str],
    /// What the formulas mean on screen.
    pub note: &'static str,
}

/// The VAE's ELBO (the lecture's "Standard VAE" and "ELBO for VAE" slides).
pub const VAE_ELBO: MathSection = MathSection {
    title: "VAE: the evidence lower bound",
    formulas: &[
        r"\log p(x) \ge \mathbb{E}_{q_\phi(z\mid x)}\log p_\theta(x\mid z) - D_{KL}(q_\phi(z\mid x)\,\|\,p(z))",
        r"z = \mu_\phi(x) + \sigma_\phi(x)\odot\epsilon,\quad \epsilon\sim\mathcal{N}(0, I)",
        r"\max_{\phi,\theta}\ \mathbb{E}_{q_\phi}\log p_\theta(x\mid z) - \beta\, D_{KL}(q_\phi(z\mid x)\,\|\,p(z))",
    ],
    note: "Encoder q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)), decoder p_θ(x|z) = N(μ_θ(z), σ_x² I) with one learned \
           σ_x², prior N(0, I). The KL is exact; the reconstruction term is sampled with the \
           reparameterisation z = μ + σ ⊙ ε. β = 1 is the ELBO; β > 1 trades reconstruction for a posterior \
           closer to the prior (β-VAE), and too much of it collapses latents.",
};

/// The Markovian hierarchical VAE (the lecture's "Hierarchical VAE" slides).
pub const MHVAE: MathSection = MathSection {
    title: "Markovian hierarchical VAE",
    formulas: &[
        r"p(x, z_{1:T}) = p(z_T)\,p_\theta(x\mid z_1)\prod_{t=2}^{T} p_\theta(z_{t-1}\mid z_t)",
        r"q_\phi(z_{1:T}\mid x) = q_\phi(z_1\mid x)\prod_{t=2}^{T} q_\phi(z_t\mid z_{t-1})",
    ],
    note: "Each latent conditions only on the one before: T learned Gaussian encoders up, T learned \
           Gaussian decoders down, p(z_T) = N(0, I).",
};

/// The hierarchical VAE's ELBO term by term (the lecture's "ELBO for MHVAE" and, with the
/// exact step term, MATH.md §4's consistency form).
pub const MHVAE_ELBO: MathSection = MathSection {
    title: "ELBO for the MHVAE, term by term",
    formulas: &[
        r"\log p(x) \ge \mathbb{E}_{q_\phi(z_{1:T}\mid x)}\log \frac{p(x, z_{1:T})}{q_\phi(z_{1:T}\mid x)}",
        r"= \mathbb{E}_q\log p_\theta(x\mid z_1) - \mathbb{E}_q D_{KL}(q(z_T\mid z_{T-1})\,\|\,p(z_T)) - \sum_{t=1}^{T-1} C_t",
        r"C_t = \mathbb{E}_q\left[\log q(z_t\mid z_{t-1}) - \log p_\theta(z_t\mid z_{t+1})\right]",
    ],
    note: "C_t, the consistency term of level t (z_0 = x), is estimated from joint samples of q. Its expectation \
           is E[KL(r‖p_θ) − KL(r‖q)] with r = q(z_t|z_{t−1}, z_{t+1}): the slide's single KL is not the ELBO. \
           Every term with its standard error over the examples.",
};

/// The three restrictions that make the MHVAE a VDM (the lecture's "VDM" slides).
pub const VDM_RESTRICTIONS: MathSection = MathSection {
    title: "Three switches: MHVAE → VDM",
    formulas: &[
        r"1.\ \dim z_t = \dim x",
        r"2.\ q(x_t\mid x_{t-1}) = \mathcal{N}(x_t;\ \sqrt{\alpha_t}\,x_{t-1},\ (1-\alpha_t)\,I)",
        r"3.\ \bar\alpha_T \to 0:\ q(x_T\mid x_0) \to \mathcal{N}(0, I) = p(x_T)",
    ],
    note: "With the encoders fixed only the decoders learn, with σ_t² = β_t as the ELBO tab's model; with all \
           three the posterior q(x_{t−1}|x_t, x_0) is Gaussian in closed form, so the ELBO can be written \
           with the denoising-matching terms (the ELBO tab's estimator), and both estimates must agree.",
};

/// The forward chain, one step at a time (the lecture's "VDM: linear Gaussian encoder").
pub const FORWARD: MathSection = MathSection {
    title: "Forward process (a Markov chain)",
    formulas: &[
        r"q(x_t \mid x_{t-1}) = \mathcal{N}(x_t;\ \sqrt{\alpha_t}\,x_{t-1},\ (1-\alpha_t)\,I)",
        r"x_t = \sqrt{\alpha_t}\,x_{t-1} + \sqrt{1-\alpha_t}\,\epsilon_t",
    ],
    note: "Each step shrinks the signal and adds fresh noise ε_t ~ N(0, I): the left view.",
};

/// The closed form (the lecture's last slide).
pub const CLOSED_FORM: MathSection = MathSection {
    title: "Closed form",
    formulas: &[
        r"\bar\alpha_t = \prod_{i=1}^{t} \alpha_i",
        r"q(x_t \mid x_0) = \mathcal{N}(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t)\,I)",
        r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon",
    ],
    note: "Sums of Gaussians are Gaussian: t steps collapse into one jump with one ε — the right view. \
           Both views have the same distribution at every t, not the same samples.",
};

/// The signal-to-noise ratio.
pub const SNR: MathSection = MathSection {
    title: "Signal-to-noise ratio",
    formulas: &[
        r"\mathrm{SNR}(t) = \frac{\bar\alpha_t}{1-\bar\alpha_t}",
        r"\log \mathrm{SNR}(t) = \log \frac{\bar\alpha_t}{1-\bar\alpha_t}",
    ],
    note: "",
};

/// The ELBO's prior term.
pub const PRIOR: MathSection = MathSection {
    title: "Prior matching",
    formulas: &[r"D_{KL}\big(q(x_T \mid x_0)\,\|\,\mathcal{N}(0, I)\big)"],
    note: "The ELBO's prior term: zero only when ᾱ_T = 0. A schedule that leaves ᾱ_T large leaves x_0 \
           visible in x_T, and sampling from N(0, I) starts from the wrong place.",
};

/// The Compare tab's one line.
pub const COMPARE: MathSection = MathSection {
    title: "Comparing schedules",
    formulas: &[
        r"x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon \quad\text{(the same } \epsilon \text{ in every cell)}",
    ],
    note: "Rows differ only in ᾱ_t.",
};

/// The posterior the reverse chain uses, and what the model predicts.
pub const POSTERIOR: MathSection = MathSection {
    title: "Posterior (used by the reverse chain)",
    formulas: &[
        r"q(x_{t-1} \mid x_t, x_0) = \mathcal{N}(\tilde\mu_t,\ \tilde\beta_t I)",
        r"\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0 + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t",
        r"\tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t",
    ],
    note: "",
};

/// The learned reverse step (Ho et al. 2020).
pub const REVERSE: MathSection = MathSection {
    title: "Learned reverse step",
    formulas: &[
        r"\hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}",
        r"p_\theta(x_{t-1} \mid x_t) = \mathcal{N}\big(\mu_\theta(x_t, t),\ \sigma_t^2 I\big)",
        r"\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\epsilon_\theta(x_t, t)\Big)",
    ],
    note: "x̂_0 is what the model thinks x_0 is; σ_t² is β_t or β̃_t.",
};

/// Classifier-free guidance (Ho & Salimans 2022), for class-conditional models.
pub const GUIDANCE: MathSection = MathSection {
    title: "Classifier-free guidance",
    formulas: &[
        r"\tilde\epsilon = (1+w)\,\epsilon_\theta(x_t, t, c) - w\,\epsilon_\theta(x_t, t, \varnothing)",
        r"\nabla \log p_w(x_t \mid c) = \nabla \log p(x_t) + (1+w)\,\nabla \log p(c \mid x_t)",
    ],
    note: "One network learns both: training drops the label to ∅ 15 % of the time. w = 0 is the conditional model; larger w, surer and less varied samples.",
};

/// The ELBO in its denoising-matching form, term by term (the lecture's "ELBO for VDMs").
pub const ELBO: MathSection = MathSection {
    title: "The ELBO (denoising-matching form)",
    formulas: &[
        // One term a line: on one line it was wider than the panel even at the smallest
        // size formulas shrink to, and widened the panel over the views.
        r"\log p(x_0) \ge \underbrace{\mathbb{E}_{q(x_1\mid x_0)}\log p_\theta(x_0\mid x_1)}_{\text{reconstruction}}",
        r"\qquad - \underbrace{D_{KL}(q(x_T\mid x_0)\,\|\,p(x_T))}_{\text{prior matching}}",
        r"\qquad - \sum_{t=2}^{T}\underbrace{\mathbb{E}_{q(x_t\mid x_0)}D_{KL}(q(x_{t-1}\mid x_t,x_0)\,\|\,p_\theta(x_{t-1}\mid x_t))}_{\text{denoising matching}}",
        r"D_{KL}\big(\mathcal{N}(\mu_1, s_1 I)\,\|\,\mathcal{N}(\mu_2, s_2 I)\big) = \frac{d}{2}\Big(\frac{s_1}{s_2} - 1 + \ln\frac{s_2}{s_1}\Big) + \frac{\|\mu_1-\mu_2\|^2}{2 s_2}",
    ],
    note: "",
};

/// A finite Markov chain (the lecture's "Markov Chain" slide).
pub const MARKOV_CHAIN: MathSection = MathSection {
    title: "A finite Markov chain",
    formulas: &[
        r"P_{ij} = P[X_{n+1} = j \mid X_n = i],\qquad \sum_j P_{ij} = 1",
        r"p_{n+1} = p_n P",
        r"p_n = p_0 P^n",
    ],
    note: "The next state depends on the present one only. Rows of P are distributions; p_n is a row vector.",
};

/// The stationary distribution and the rate at which `p_n` reaches it.
pub const STATIONARY: MathSection = MathSection {
    title: "Stationary distribution",
    formulas: &[
        r"\pi P = \pi,\qquad \sum_i \pi_i = 1",
        r"\|p_n - \pi\|_1 \le C\,|\lambda_2|^n",
    ],
    note: "Irreducible and aperiodic: one π, reached from any p_0 at the rate of the second-largest eigenvalue \
           modulus |λ₂|. Periodic: p_n cycles. Reducible: one π per closed class, and the limit depends on p_0.",
};

/// The bridge to diffusion.
pub const GAUSSIAN_CHAIN: MathSection = MathSection {
    title: "The forward process is such a chain",
    formulas: &[r"q(x_n \mid x_{n-1}) = \mathcal{N}(x_n;\ \sqrt{\alpha_n}\,x_{n-1},\ (1-\alpha_n)\,I)"],
    note: "A continuous state and a Gaussian kernel in place of P; its stationary law is N(0, I).",
};

/// Diffusion on a finite state space: the same chain with a categorical kernel.
pub const DISCRETE_CHAIN: MathSection = MathSection {
    title: "Diffusion on a finite state space (D3PM)",
    formulas: &[
        r"q(x_t \mid x_{t-1}) = \mathrm{Cat}(x_t;\ x_{t-1} Q_t),\qquad q(x_t \mid x_0) = \mathrm{Cat}(x_t;\ x_0 \bar Q_t)",
        r"\text{uniform: } Q_t = (1-\beta_t) I + \beta_t \mathbf{1}\mathbf{1}^\top/K,\quad \bar Q_t = \bar\alpha_t I + (1-\bar\alpha_t) \mathbf{1}\mathbf{1}^\top/K",
        r"\text{absorbing: } Q_t = (1-\beta_t) I + \beta_t \mathbf{1} e_m^\top,\quad \bar Q_t = \bar\alpha_t I + (1-\bar\alpha_t) \mathbf{1} e_m^\top",
    ],
    note: "Austin et al. 2021. Each pixel's intensity level is the state; Q̄_t = Q_1 ⋯ Q_t in closed form, and x_T \
           approaches the stationary law: uniform, or all mass on the mask m.",
};

/// The sections shown on a tab, in order.
#[must_use]
pub fn sections(tab: Tab) -> Vec<MathSection> {
    match tab {
        Tab::Vae => vec![VAE_ELBO, MHVAE, MHVAE_ELBO, VDM_RESTRICTIONS],
        Tab::Markov => vec![MARKOV_CHAIN, STATIONARY, DISCRETE_CHAIN, GAUSSIAN_CHAIN],
        Tab::Forward => vec![FORWARD, CLOSED_FORM, SNR, PRIOR, POSTERIOR],
        Tab::Reverse => vec![CLOSED_FORM, POSTERIOR, REVERSE, GUIDANCE, SNR],
        Tab::Compare => vec![CLOSED_FORM, COMPARE, SNR, PRIOR],
        Tab::Elbo => vec![ELBO, PRIOR, POSTERIOR, SNR],
    }
}

/// Today's numbers at `t`, each `(template, value)`: the template's one `\slot{…}` is as
/// wide as the value usually is; the slot is last on its line so spare room is invisible.
#[must_use]
pub fn live_lines(
    t: usize,
    alpha_bar: f64,
    snr: f64,
    log_snr: f64,
    posterior_variance: Option<f64>,
) -> Vec<(String, Vec<String>)> {
    let mut lines = vec![
        (r"t = \slot{0000}".to_owned(), vec![t.to_string()]),
        (
            r"\bar\alpha_t = \slot{0.0000e-00}".to_owned(),
            vec![format_sig(alpha_bar, 4)],
        ),
        (
            r"\mathrm{SNR}(t) = \slot{0.0000e-00}".to_owned(),
            vec![format_sig(snr, 4)],
        ),
        (
            r"\log \mathrm{SNR}(t) = \slot{-00.0000}".to_owned(),
            vec![format_sig(log_snr, 4)],
        ),
    ];
    if let Some(v) = posterior_variance {
        lines.push((
            r"\tilde\beta_t = \slot{0.0000e-00}".to_owned(),
            vec![format_sig(v, 4)],
        ));
    }
    lines
}

/// The Markov chain tab's numbers at `n`: `n`, `‖p_n − π‖₁` and `|λ₂|`.
#[must_use]
pub fn markov_lines(settings: &Settings, model: &Model) -> Vec<(String, Vec<String>)> {
    let view = &model.markov;
    let n = settings.markov.n.min(crate::app::markov::MAX_N);
    let mut lines = vec![
        (r"n = \slot{000}".to_owned(), vec![n.to_string()]),
        (
            r"\|p_n - \pi\|_1 = \slot{0.0000e-00}".to_owned(),
            vec![format_sig(view.distances[n], 4)],
        ),
    ];
    if let Some(lambda2) = view.lambda2 {
        lines.push((
            r"|\lambda_2| = \slot{0.0000}".to_owned(),
            vec![format_sig(lambda2, 4)],
        ));
    }
    lines
}

/// The window's formula cache, kept in egui's memory so panels need no extra argument.
#[must_use]
pub fn shared_cache(ctx: &egui::Context) -> Arc<Mutex<TexCache>> {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<Arc<Mutex<TexCache>>>(egui::Id::unique("diffscope_tex_cache"))
            .clone()
    })
}

/// Lays out the math panel with typeset formulas.
pub fn math_ui(ui: &mut egui::Ui, settings: &Settings, model: &Model) {
    let shared = shared_cache(ui.ctx());
    let mut cache = shared.lock();
    let s = &model.schedule;
    let t = settings.t;
    if let Some(deck) = &model.deck {
        drop(cache);
        crate::ui::chapter::chapter_ui(ui, deck);
        ui.separator();
        cache = shared.lock();
    }
    ui.heading("The math");
    ui.add_space(4.0);
    ui.label(RichText::new("Now").strong());
    let posterior = (t >= 1).then(|| s.posterior_variance(t));
    let lines = if settings.steps_n() {
        markov_lines(settings, model)
    } else {
        live_lines(t, s.alpha_bar(t), s.snr(t), s.log_snr(t), posterior)
    };
    for (template, values) in lines {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        tex_live_ui(ui, &mut cache, &template, &values, FORMULA_SIZE);
    }
    for section in sections(settings.tab) {
        ui.add_space(8.0);
        ui.label(RichText::new(section.title).strong());
        for tex in section.formulas {
            ui.add_space(2.0);
            tex_ui(ui, &mut cache, tex, FORMULA_SIZE);
        }
        if !section.note.is_empty() {
            ui.label(RichText::new(section.note).weak());
        }
    }
}
