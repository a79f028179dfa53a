//! Weights files of the latent-variable models (a [`Vae`] or an [`Mhvae`]): safetensors
//! like the denoisers' ([`super::io`]), with the shape and the training record in the
//! header's `__metadata__`:
//!
//! | key | value |
//! |---|---|
//! | `format` | `diffscope-vae-1` |
//! | `kind` | `vae` or `mhvae` |
//! | `data_dim`, `hidden`, `layers` | the networks' shape |
//! | `latent_dim` | the VAE's latent dimension |
//! | `levels`, `encoders` | the MHVAE's `T` and `learned` or `fixed` |
//! | `schedule`, `T`, `beta_start`, `beta_end`, `schedule_beta`, `zero_terminal_snr` | fixed encoders: the source schedule (its own `T`) |
//! | `times` | fixed encoders: the steps of the source the levels take, comma-separated |
//! | `dataset`, `iterations`, `seed`, `command`, `beta` | the training record (`beta`: the KL weight) |
//!
//! Loading checks all of it and reports the first problem in one line naming the file; a
//! denoiser's file is recognised as such. It never panics, whatever the bytes.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::SafeTensors;

use super::io::bytes_err;

use super::ModelError;
use super::mhvae::{Encoders, Mhvae, MhvaeConfig};
use super::params::Param;
use super::vae::{Vae, VaeConfig};
use crate::diffusion::{Schedule, ScheduleKind, ScheduleSpec};

/// The value of the `format` key.
pub const FORMAT: &str = "diffscope-vae-1";

/// A VAE or an MHVAE: what a latent-model weights file holds.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per loaded file; the parameters themselves are on the heap either way"
)]
pub enum LatentModel {
    /// A VAE.
    Vae(Vae),
    /// A Markovian hierarchical VAE.
    Mhvae(Mhvae),
}

impl LatentModel {
    /// Its parameters.
    #[must_use]
    pub fn params(&self) -> &[Param] {
        match self {
            Self::Vae(v) => &v.params,
            Self::Mhvae(m) => &m.params,
        }
    }

    /// A one-line description: kind, shape, parameter count.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Vae(v) => format!(
                "VAE {}D → {}D latent, MLPs {}×{}, {} parameters",
                v.config.data_dim,
                v.config.latent_dim,
                v.config.hidden,
                v.config.layers,
                v.config.parameter_count()
            ),
            Self::Mhvae(m) => format!(
                "MHVAE T = {} ({} encoders), MLPs {}×{}, {} parameters",
                m.config.levels,
                if m.config.learned() { "learned" } else { "fixed" },
                m.config.hidden,
                m.config.layers,
                m.config.parameter_count()
            ),
        }
    }
}

/// A latent model with its training record.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentCheckpoint {
    /// The model.
    pub model: LatentModel,
    /// The data it was trained on.
    pub dataset: String,
    /// Training iterations done.
    pub iterations: u64,
    /// The seed of initialisation and training noise.
    pub seed: u64,
    /// The command that produced it, if any.
    pub command: String,
    /// The KL weight β it was trained with (1 for an MHVAE).
    pub beta: f64,
}

fn metadata(c: &LatentCheckpoint) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), v);
    };
    put("format", FORMAT.to_owned());
    match &c.model {
        LatentModel::Vae(v) => {
            put("kind", "vae".into());
            put("data_dim", v.config.data_dim.to_string());
            put("latent_dim", v.config.latent_dim.to_string());
            put("hidden", v.config.hidden.to_string());
            put("layers", v.config.layers.to_string());
        }
        LatentModel::Mhvae(h) => {
            put("kind", "mhvae".into());
            put("data_dim", h.config.data_dim.to_string());
            put("hidden", h.config.hidden.to_string());
            put("layers", h.config.layers.to_string());
            put("levels", h.config.levels.to_string());
            match &h.config.encoders {
                Encoders::Learned => put("encoders", "learned".into()),
                Encoders::Fixed(s) => {
                    put("encoders", "fixed".into());
                    let (source_steps, times) = s.subchain_source().map_or_else(
                        || (s.steps(), (1..=s.steps()).collect()),
                        |(n, t)| (n, t.to_vec()),
                    );
                    let spec = s.spec();
                    put("schedule", spec.kind.name().to_owned());
                    put("T", source_steps.to_string());
                    if let Some(v) = spec.beta_start {
                        put("beta_start", format!("{v:?}"));
                    }
                    if let Some(v) = spec.beta_end {
                        put("beta_end", format!("{v:?}"));
                    }
                    if let Some(v) = spec.beta {
                        put("schedule_beta", format!("{v:?}"));
                    }
                    put("zero_terminal_snr", spec.zero_terminal_snr.to_string());
                    put(
                        "times",
                        times
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                }
            }
        }
    }
    put("dataset", c.dataset.clone());
    put("iterations", c.iterations.to_string());
    put("seed", c.seed.to_string());
    put("command", c.command.clone());
    put("beta", format!("{:?}", c.beta));
    m
}

/// The safetensors bytes of a checkpoint.
pub fn to_bytes(c: &LatentCheckpoint) -> Result<Vec<u8>, ModelError> {
    super::io::serialize(c.model.params(), metadata(c))
}

/// Writes a checkpoint to `path` (via a temporary file, so a failed write leaves no half
/// file).
pub fn save(c: &LatentCheckpoint, path: &Path) -> Result<(), ModelError> {
    super::io::write_file(&to_bytes(c)?, path)
}

/// Reads a checkpoint from `path`; every error names the file.
pub fn load(path: &Path) -> Result<LatentCheckpoint, ModelError> {
    super::io::read_file(path, from_bytes)
}

/// The header's metadata, with typed, checked access.
struct Meta(HashMap<String, String>);

impl Meta {
    fn get(&self, key: &str) -> Result<&str, ModelError> {
        self.0.get(key).map(String::as_str).ok_or_else(|| {
            bytes_err(format!(
                "no `{key}` in the metadata: not a diffscope VAE weights file"
            ))
        })
    }

    fn num(&self, key: &str, range: std::ops::RangeInclusive<usize>) -> Result<usize, ModelError> {
        let v = self.get(key)?;
        v.parse::<usize>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                bytes_err(format!(
                    "metadata `{key}` = '{v}' is not a whole number in {}..={}",
                    range.start(),
                    range.end()
                ))
            })
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>, ModelError> {
        self.0
            .get(key)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bytes_err(format!("metadata `{key}` = '{v}' is not a number")))
            })
            .transpose()
    }

    /// The fixed encoders' schedule: the source spec, sub-chained at `times`.
    fn fixed_schedule(&self, levels: usize) -> Result<Schedule, ModelError> {
        let kind: ScheduleKind = self
            .get("schedule")?
            .parse()
            .map_err(|e| bytes_err(format!("metadata `schedule`: {e}")))?;
        let mut spec = ScheduleSpec::new(kind, self.num("T", 1..=crate::diffusion::schedule::MAX_STEPS)?);
        spec.beta_start = self.opt_f64("beta_start")?;
        spec.beta_end = self.opt_f64("beta_end")?;
        spec.beta = self.opt_f64("schedule_beta")?;
        spec.zero_terminal_snr = self.0.get("zero_terminal_snr").is_some_and(|v| v == "true");
        let source = Schedule::new(&spec).map_err(|e| bytes_err(format!("its schedule is invalid: {e}")))?;
        let raw = self.get("times")?;
        let times = raw
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bytes_err(format!("metadata `times` = '{raw}' is not a list of steps")))?;
        if times.len() != levels {
            return Err(bytes_err(format!(
                "metadata `times` lists {} steps for {levels} levels",
                times.len()
            )));
        }
        source
            .subchain(&times)
            .map_err(|e| bytes_err(format!("metadata `times`: {e}")))
    }

    fn model_config(&self) -> Result<ModelShape, ModelError> {
        match self.0.get("format").map(String::as_str) {
            Some(FORMAT) => {}
            Some(super::io::FORMAT) => {
                return Err(bytes_err(
                    "this is a denoiser's weights file, not a VAE's (load it as a model for the Reverse tab)"
                        .into(),
                ));
            }
            Some(other) => return Err(bytes_err(format!("format '{other}' is not {FORMAT}"))),
            None => {
                return Err(bytes_err(
                    "no `format` in the metadata: not a diffscope VAE weights file".into(),
                ));
            }
        }
        let data_dim = self.num("data_dim", 1..=4096)?;
        let hidden = self.num("hidden", 1..=4096)?;
        let layers = self.num("layers", 0..=16)?;
        Ok(match self.get("kind")? {
            "vae" => ModelShape::Vae(VaeConfig {
                data_dim,
                latent_dim: self.num("latent_dim", 1..=4096)?,
                hidden,
                layers,
            }),
            "mhvae" => {
                let levels = self.num("levels", 1..=super::mhvae::MAX_LEVELS)?;
                let encoders = match self.get("encoders")? {
                    "learned" => Encoders::Learned,
                    "fixed" => Encoders::Fixed(self.fixed_schedule(levels)?),
                    other => {
                        return Err(bytes_err(format!(
                            "metadata `encoders` = '{other}' is neither learned nor fixed"
                        )));
                    }
                };
                ModelShape::Mhvae(MhvaeConfig {
                    data_dim,
                    levels,
                    hidden,
                    layers,
                    encoders,
                })
            }
            other => {
                return Err(bytes_err(format!(
                    "kind '{other}' is unknown (expected vae or mhvae)"
                )));
            }
        })
    }
}

/// A shape read from the metadata.
#[allow(clippy::large_enum_variant, reason = "one per file read")]
enum ModelShape {
    Vae(VaeConfig),
    Mhvae(MhvaeConfig),
}

/// Reads a checkpoint from safetensors bytes (errors name the file as `<bytes>`).
pub fn from_bytes(bytes: &[u8]) -> Result<LatentCheckpoint, ModelError> {
    let invalid = |e: safetensors::SafeTensorError| bytes_err(format!("not a valid safetensors file ({e})"));
    let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let meta = Meta(header.metadata().clone().unwrap_or_default());
    let shape = meta.model_config()?;
    let layout = match &shape {
        ModelShape::Vae(c) => c.layout(),
        ModelShape::Mhvae(c) => c.layout(),
    };
    if layout.len() > tensors.len() {
        return Err(bytes_err(format!(
            "the metadata's shape needs {} tensors, the file holds {}",
            layout.len(),
            tensors.len()
        )));
    }
    let params = super::io::read_layout(&tensors, layout, "the model's shape in the metadata")?;
    let model = match shape {
        ModelShape::Vae(c) => {
            LatentModel::Vae(Vae::from_params(c, params).map_err(|e| bytes_err(e.to_string()))?)
        }
        ModelShape::Mhvae(c) => {
            LatentModel::Mhvae(Mhvae::from_params(c, params).map_err(|e| bytes_err(e.to_string()))?)
        }
    };
    let beta = meta.opt_f64("beta")?.unwrap_or(1.0);
    Ok(LatentCheckpoint {
        model,
        dataset: meta.0.get("dataset").cloned().unwrap_or_default(),
        iterations: meta.0.get("iterations").and_then(|v| v.parse().ok()).unwrap_or(0),
        seed: meta.0.get("seed").and_then(|v| v.parse().ok()).unwrap_or(0),
        command: meta.0.get("command").cloned().unwrap_or_default(),
        beta,
    })
}

/// The shipped latent models: `vae-two-moons`, `mhvae-two-moons` (learned encoders,
/// `T = 4`) and `mhvae-vdm-two-moons` (fixed encoders: the default linear schedule,
/// `T = 1000`, sub-chained at `level_times(.., 4, true)`), each trained by the
/// `diffscope vae train` command in its metadata (README, "Shipped weights").
#[must_use]
pub fn shipped(name: &str) -> Option<Result<LatentCheckpoint, ModelError>> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(n, bytes)| {
        from_bytes(bytes).map_err(|e| ModelError::File {
            path: format!("shipped weights '{n}'"),
            message: e.to_string(),
        })
    })
}

/// Names of the shipped latent models.
pub fn shipped_names() -> impl Iterator<Item = &'static str> {
    SHIPPED.iter().map(|(n, _)| *n)
}

/// `(name, safetensors bytes)` of every shipped latent model.
const SHIPPED: &[(&str, &[u8])] = &[
    (
        "vae-two-moons",
        include_bytes!("../../assets/weights/vae-two-moons.safetensors"),
    ),
    (
        "mhvae-two-moons",
        include_bytes!("../../assets/weights/mhvae-two-moons.safetensors"),
    ),
    (
        "mhvae-vdm-two-moons",
        include_bytes!("../../assets/weights/mhvae-vdm-two-moons.safetensors"),
    ),
];
