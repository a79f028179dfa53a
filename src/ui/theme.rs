//! Colours, fonts and sizes: the one place a colour literal lives.

use egui::{Color32, FontData, FontDefinitions, FontFamily, Visuals};

use crate::app::settings::ThemeChoice;
use crate::diffusion::ScheduleKind;

/// The colour of a schedule family, the same in every plot and grid.
#[must_use]
pub fn schedule_color(kind: ScheduleKind) -> Color32 {
    match kind {
        ScheduleKind::Linear => Color32::from_rgb(66, 165, 245),
        ScheduleKind::Cosine => Color32::from_rgb(255, 167, 38),
        ScheduleKind::Quadratic => Color32::from_rgb(102, 187, 106),
        ScheduleKind::Sigmoid => Color32::from_rgb(236, 64, 122),
        ScheduleKind::Constant => Color32::from_rgb(171, 71, 188),
    }
}

/// Points of `x_t` in the scatter views.
#[must_use]
pub fn point_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgb(100, 181, 246)
    } else {
        Color32::from_rgb(21, 101, 192)
    }
}

/// The faint `x_0` behind the scatter.
#[must_use]
pub fn faint_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_gray(75)
    } else {
        Color32::from_gray(200)
    }
}

/// The reverse chain's GIF pictures in the window's colours.
#[must_use]
pub fn chain_look(dark: bool) -> crate::scene::chain_gif::ChainLook {
    let rgb = |c: Color32| [c.r(), c.g(), c.b()];
    crate::scene::chain_gif::ChainLook {
        style: scatter_style(dark),
        sample_rgb: rgb(point_color(dark)),
        x0_hat_rgb: rgb(x0_hat_color(dark)),
        path_rgb: PATH_COLORS.iter().map(|&c| rgb(c)).collect(),
        text_rgb: if dark { [220, 220, 220] } else { [30, 30, 30] },
    }
}

/// The scatter views' look in the window: the panel's background, the theme's colours.
#[must_use]
pub fn scatter_style(dark: bool) -> crate::export::ScatterStyle {
    let rgb = |c: Color32| [c.r(), c.g(), c.b()];
    crate::export::ScatterStyle {
        size_px: 640,
        extent: crate::export::VIEW_EXTENT,
        point_radius_px: 2.0,
        // x_0 is drawn as the points of this picture, in the faint colour.
        point_rgb: rgb(faint_color(dark)),
        background_point_rgb: rgb(faint_color(dark)),
        canvas_rgb: if dark { [20, 20, 20] } else { [250, 250, 250] },
        axes: true,
    }
}

/// `x̂_0` in the reverse chain's scatter.
#[must_use]
pub fn x0_hat_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgb(255, 183, 77)
    } else {
        Color32::from_rgb(230, 81, 0)
    }
}

/// Samples of a VAE's generative model, `x ~ p_θ(x|z)`, `z ~ N(0, I)`, and the
/// hierarchical VAE's ancestral samples.
#[must_use]
pub fn latent_sample_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgb(129, 199, 132)
    } else {
        Color32::from_rgb(46, 125, 50)
    }
}

/// Arrows of the ε field (the score).
#[must_use]
pub fn arrow_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgba_unmultiplied(129, 199, 132, 200)
    } else {
        Color32::from_rgba_unmultiplied(46, 125, 50, 220)
    }
}

/// The batch loss (faint), its moving average and the validation loss.
pub const LOSS_COLORS: [Color32; 3] = [
    Color32::from_rgb(120, 144, 156),
    Color32::from_rgb(66, 165, 245),
    Color32::from_rgb(255, 167, 38),
];

/// The sample metric and its noise floor.
pub const METRIC_COLORS: [Color32; 2] = [Color32::from_rgb(236, 64, 122), Color32::from_rgb(158, 158, 158)];

/// The ELBO plots: the learned model, the ideal denoiser.
pub const ELBO_COLORS: [Color32; 2] = [Color32::from_rgb(66, 165, 245), Color32::from_rgb(255, 112, 67)];

/// Paths of highlighted points.
pub const PATH_COLORS: [Color32; 12] = [
    Color32::from_rgb(255, 112, 67),
    Color32::from_rgb(255, 213, 79),
    Color32::from_rgb(129, 199, 132),
    Color32::from_rgb(240, 98, 146),
    Color32::from_rgb(77, 208, 225),
    Color32::from_rgb(186, 104, 200),
    Color32::from_rgb(255, 138, 101),
    Color32::from_rgb(220, 231, 117),
    Color32::from_rgb(79, 195, 247),
    Color32::from_rgb(244, 143, 177),
    Color32::from_rgb(128, 203, 196),
    Color32::from_rgb(179, 157, 219),
];

/// The `N(0, 1)` density curve over the histogram.
pub const NORMAL_CURVE: Color32 = Color32::from_rgb(255, 167, 38);

/// The outline of the closed-form histogram.
pub const CLOSED_FORM_LINE: Color32 = Color32::from_rgb(102, 187, 106);

/// The absorbing chain's mask state in the discrete views (the same blue as exported
/// pictures, `export::MASK_RGB`, so a screenshot and an export agree).
pub const MASK_COLOR: Color32 = Color32::from_rgb(0, 140, 255);

/// The grid's gaps between the digits in the discrete views (no state).
pub const GAP_COLOR: Color32 = Color32::from_rgb(128, 128, 128);

/// The exact law `q(x_t)` over the discrete histogram.
pub const LAW_COLOR: Color32 = Color32::from_rgb(236, 64, 122);
/// The Markov chain tab's bars: `p_n`, the empirical histogram of many chains, `π` (or
/// the limit of `p_n`).
pub const MARKOV_BARS: [Color32; 3] = [
    Color32::from_rgb(66, 165, 245),
    Color32::from_rgb(255, 167, 38),
    Color32::from_rgb(102, 187, 106),
];

/// A probability in `[0, 1]` as a colour of a sequential map (dark blue → teal → yellow,
/// after viridis), for every transition matrix's heatmap (the Markov chain tab's `P`, the
/// digits' `Q_t` and `Q̄_t`) and the state graph's nodes.
#[must_use]
pub fn heat_color(value: f64) -> Color32 {
    const STOPS: [(f64, [u8; 3]); 5] = [
        (0.0, [40, 30, 80]),
        (0.25, [59, 82, 139]),
        (0.5, [33, 145, 140]),
        (0.75, [94, 201, 98]),
        (1.0, [253, 231, 37]),
    ];
    let v = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let upper = STOPS
        .iter()
        .position(|&(at, _)| at >= v)
        .unwrap_or(STOPS.len() - 1)
        .max(1);
    let ((a, ca), (b, cb)) = (STOPS[upper - 1], STOPS[upper]);
    let f = ((v - a) / (b - a)).clamp(0.0, 1.0);
    let mix = |x: u8, y: u8| (f64::from(x) + f * (f64::from(y) - f64::from(x))).round() as u8;
    Color32::from_rgb(mix(ca[0], cb[0]), mix(ca[1], cb[1]), mix(ca[2], cb[2]))
}

/// Text drawn over a [`heat_color`] cell: dark on the bright end, light on the dark.
#[must_use]
pub fn on_heat_color(value: f64) -> Color32 {
    if value > 0.6 {
        Color32::BLACK
    } else {
        Color32::WHITE
    }
}

/// The state graph's arrows (their alpha follows `P_ij`).
#[must_use]
pub fn edge_color(dark: bool, alpha: f32) -> Color32 {
    let base = if dark {
        Color32::from_gray(200)
    } else {
        Color32::from_gray(60)
    };
    base.gamma_multiply(alpha)
}

/// Errors in the status line and warnings.
#[must_use]
pub fn error_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgb(255, 110, 100)
    } else {
        Color32::from_rgb(198, 40, 40)
    }
}

/// Warnings (the prior term is not negligible).
#[must_use]
pub fn warning_color(dark: bool) -> Color32 {
    if dark {
        Color32::from_rgb(255, 202, 40)
    } else {
        Color32::from_rgb(176, 110, 0)
    }
}

/// The marker of the current `t` in plots.
#[must_use]
pub fn marker_color(dark: bool) -> Color32 {
    if dark { Color32::WHITE } else { Color32::BLACK }
}

/// Applies the light or dark theme, with text large enough for the back of a hall.
pub fn apply(ctx: &egui::Context, theme: ThemeChoice) {
    let visuals = match theme {
        ThemeChoice::Dark => Visuals::dark(),
        ThemeChoice::Light => Visuals::light(),
    };
    ctx.set_visuals(visuals);
    ctx.all_styles_mut(|style| {
        use egui::{FontId, TextStyle};
        style
            .text_styles
            .insert(TextStyle::Body, FontId::proportional(15.0));
        style
            .text_styles
            .insert(TextStyle::Button, FontId::proportional(15.0));
        style
            .text_styles
            .insert(TextStyle::Heading, FontId::proportional(20.0));
        style
            .text_styles
            .insert(TextStyle::Monospace, FontId::monospace(14.0));
        style
            .text_styles
            .insert(TextStyle::Small, FontId::proportional(12.0));
    });
}

/// Installs DejaVu Sans (it has `ᾱ`, `√`, `‖` and the subscripts the equations need)
/// ahead of egui's default fonts.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::default();
    fonts.font_data.insert(
        "DejaVuSans".into(),
        std::sync::Arc::new(FontData::from_static(crate::data::glyphs::sans_bytes())),
    );
    fonts.font_data.insert(
        "DejaVuSansMono".into(),
        std::sync::Arc::new(FontData::from_static(crate::data::glyphs::mono_bytes())),
    );
    if let Some(family) = fonts.families.get_mut(&FontFamily::Proportional) {
        family.insert(0, "DejaVuSans".into());
    }
    if let Some(family) = fonts.families.get_mut(&FontFamily::Monospace) {
        family.insert(0, "DejaVuSansMono".into());
    }
    ctx.set_fonts(fonts);
}
