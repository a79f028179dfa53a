//! Weights files: safetensors with PyTorch `state_dict` names and shapes (`f32`,
//! row-major), and everything else a model needs in the header's `__metadata__`:
//!
//! | key | value |
//! |---|---|
//! | `format` | `diffscope-1` |
//! | `architecture` | `mlp2d`, `conv` or `unet` |
//! | `hidden`, `blocks`, `embedding` | the MLP's shape |
//! | `channels`, `height`, `width`, `features`, `blocks` | the conv net's shape |
//! | `channels`, `height`, `width`, `features`, `mid_blocks` | the U-Net's shape (`unet`) |
//! | `schedule`, `T` | schedule family and number of steps |
//! | `beta_start`, `beta_end`, `beta` | schedule parameters (absent: the defaults) |
//! | `zero_terminal_snr` | `true` or `false` |
//! | `t_input` | `float step number 1..T` (how `t` enters the network; flow matching's `float τ·T, τ in [0, 1]`) |
//! | `dataset`, `iterations`, `seed`, `command` | the training record |
//! | `ema` | the decay of the moving average the tensors are (absent: the last step's) |
//! | `objective` | `eps` or `flow-matching`: what the network predicts (absent: `eps`) |
//!
//! Loading checks all of it and reports the first problem in one line naming the file;
//! it never panics, whatever the bytes.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::conv::ConvConfig;
use super::mlp::MlpConfig;
use super::params::Param;
use super::patch::PatchConfig;
use super::unet::UNetConfig;
use super::{Architecture, Checkpoint, ModelError, ModelInfo, Network, Objective};
use crate::diffusion::{ScheduleKind, ScheduleSpec};

/// The value of the `format` key.
pub const FORMAT: &str = "diffscope-1";
/// The most labelled classes a model may declare (a guard against hostile headers).
pub const MAX_CLASSES: usize = 1000;
/// Files larger than this are refused before reading (the 2D model is 0.4 MB).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

fn metadata(model: &Checkpoint) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), v);
    };
    put("format", FORMAT.to_owned());
    match model.network.architecture() {
        Architecture::Mlp2d(c) => {
            put("architecture", "mlp2d".into());
            put("hidden", c.hidden.to_string());
            put("blocks", c.blocks.to_string());
            put("embedding", c.embedding.to_string());
        }
        Architecture::Conv(c) => {
            put("architecture", "conv".into());
            put("channels", c.channels.to_string());
            put("height", c.height.to_string());
            put("width", c.width.to_string());
            put("features", c.features.to_string());
            put("blocks", c.blocks.to_string());
        }
        Architecture::Patch(c) => {
            put("architecture", "patch".into());
            put("channels", c.channels.to_string());
            put("height", c.photo.0.to_string());
            put("width", c.photo.1.to_string());
            put("crop", c.crop.to_string());
            put("features", c.features.to_string());
            put("blocks", c.blocks.to_string());
            put("receptive_field", c.receptive_field().to_string());
        }
        Architecture::UNet(c) => {
            put("architecture", "unet".into());
            put("channels", c.channels.to_string());
            put("height", c.height.to_string());
            put("width", c.width.to_string());
            put("features", c.features.to_string());
            put("mid_blocks", c.mid_blocks.to_string());
        }
    }
    let classes = model.network.architecture().classes();
    if classes > 0 {
        put("classes", classes.to_string());
        put("null_label", classes.to_string());
    }
    let s = &model.info.schedule;
    put("schedule", s.kind.name().to_owned());
    put("T", s.steps.to_string());
    if let Some(v) = s.beta_start {
        put("beta_start", format!("{v:?}"));
    }
    if let Some(v) = s.beta_end {
        put("beta_end", format!("{v:?}"));
    }
    if let Some(v) = s.beta {
        put("beta", format!("{v:?}"));
    }
    put("zero_terminal_snr", s.zero_terminal_snr.to_string());
    put(
        "t_input",
        match model.info.objective {
            Objective::Epsilon => "float step number 1..T",
            Objective::FlowMatching => "float τ·T, τ in [0, 1]",
        }
        .into(),
    );
    put("dataset", model.info.dataset.clone());
    put("iterations", model.info.iterations.to_string());
    put("seed", model.info.seed.to_string());
    if let Some(decay) = model.info.ema {
        put("ema", format!("{decay:?}"));
    }
    put("command", model.info.command.clone());
    put(
        super::flow_matching::METADATA_KEY,
        model.info.objective.name().to_owned(),
    );
    m
}

/// The safetensors bytes of `model`.
pub fn to_bytes(model: &Checkpoint) -> Result<Vec<u8>, ModelError> {
    serialize(model.network.params(), metadata(model))
}

/// `params` as safetensors bytes (`f32`, little-endian) with `metadata` in the header (the
/// denoisers' files and the VAEs', `super::vae_io`).
pub(super) fn serialize(params: &[Param], metadata: HashMap<String, String>) -> Result<Vec<u8>, ModelError> {
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|p| p.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = params
        .iter()
        .zip(&bytes)
        .map(|(p, b)| {
            TensorView::new(Dtype::F32, p.shape.clone(), b)
                .map(|v| (p.name.clone(), v))
                .map_err(|e| ModelError::Layout(format!("tensor `{}`: {e}", p.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| ModelError::Layout(e.to_string()))
}

/// Writes `model` to `path` (via a temporary file, so a failed write leaves no half file).
pub fn save(model: &Checkpoint, path: &Path) -> Result<(), ModelError> {
    write_file(&to_bytes(model)?, path)
}

/// Writes `bytes` to `path` via a temporary file (a failed write leaves no half file).
pub(super) fn write_file(bytes: &[u8], path: &Path) -> Result<(), ModelError> {
    let file_err = |message: String| ModelError::File {
        path: path.display().to_string(),
        message,
    };
    let tmp = path.with_extension("safetensors.part");
    std::fs::write(&tmp, bytes).map_err(|e| file_err(format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(format!("cannot write: {e}")))
}

/// Reads a model from `path`.
pub fn load(path: &Path) -> Result<Checkpoint, ModelError> {
    read_file(path, from_bytes)
}

/// Reads `path` (refusing files over [`MAX_FILE_BYTES`]) and parses it with `parse`; every
/// error names the file.
pub(super) fn read_file<T>(path: &Path, parse: fn(&[u8]) -> Result<T, ModelError>) -> Result<T, ModelError> {
    let name = path.display().to_string();
    let file_err = |message: String| ModelError::File {
        path: name.clone(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| file_err(format!("cannot read: {e}")))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(file_err(format!(
            "{len} bytes is larger than any diffscope model (limit {MAX_FILE_BYTES})"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| file_err(format!("cannot read: {e}")))?;
    parse(&bytes).map_err(|e| match e {
        ModelError::File { message, .. } => file_err(message),
        other => file_err(other.to_string()),
    })
}

/// An error of a weights file's bytes (the caller names the file).
pub(super) fn bytes_err(message: String) -> ModelError {
    ModelError::File {
        path: "<bytes>".into(),
        message,
    }
}

/// The header's metadata, with typed, checked access.
struct Meta(HashMap<String, String>);

impl Meta {
    fn get(&self, key: &str) -> Result<&str, ModelError> {
        self.0.get(key).map(String::as_str).ok_or_else(|| {
            bytes_err(format!(
                "no `{key}` in the metadata: not a diffscope model (see README, \"Weights files\")"
            ))
        })
    }

    fn num(&self, key: &str) -> Result<usize, ModelError> {
        let v = self.get(key)?;
        v.parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| bytes_err(format!("metadata `{key}` = '{v}' is not a positive whole number")))
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

    /// The declared architecture; `tensors` is how many tensors the file holds.
    fn architecture(&self, tensors: usize) -> Result<Architecture, ModelError> {
        let format = self.get("format")?;
        if format == super::vae_io::FORMAT {
            return Err(bytes_err(
                "this is a VAE's weights file, not a denoiser's (open it in the VAE → VDM tab)".into(),
            ));
        }
        if format != FORMAT {
            return Err(bytes_err(format!("format '{format}' is not {FORMAT}")));
        }
        // Every block has tensors of its own, so a file cannot hold more blocks than
        // tensors. Checked before the layout (a name and shape per tensor) is built, so
        // that a header declaring a million blocks costs nothing.
        if let Ok(blocks) = self.num("blocks").or_else(|_| self.num("mid_blocks"))
            && blocks > tensors
        {
            return Err(bytes_err(format!(
                "metadata `blocks` = '{blocks}' is more than the {tensors} tensors the file holds"
            )));
        }
        // Absent in an unconditional model's file (and in every file before classes).
        let classes = match self.0.get("classes") {
            None => 0,
            Some(_) => self.num("classes")?,
        };
        if classes > MAX_CLASSES {
            return Err(bytes_err(format!(
                "metadata `classes` = '{classes}' is more than the {MAX_CLASSES} classes a diffscope model may have"
            )));
        }
        Ok(match self.get("architecture")? {
            "mlp2d" => Architecture::Mlp2d(MlpConfig {
                hidden: self.num("hidden")?,
                blocks: self.num("blocks")?,
                embedding: self.num("embedding")?,
                classes,
            }),
            "conv" => Architecture::Conv(ConvConfig {
                channels: self.num("channels")?,
                height: self.num("height")?,
                width: self.num("width")?,
                features: self.num("features")?,
                blocks: self.num("blocks")?,
                classes,
            }),
            "unet" => Architecture::UNet(UNetConfig {
                channels: self.num("channels")?,
                height: self.num("height")?,
                width: self.num("width")?,
                features: self.num("features")?,
                mid_blocks: self.num("mid_blocks")?,
                classes,
            }),
            "patch" => {
                let photo = (self.num("height")?, self.num("width")?);
                let config = PatchConfig {
                    channels: self.num("channels")?,
                    photo,
                    crop: self.num("crop")?,
                    features: self.num("features")?,
                    blocks: self.num("blocks")?,
                    canvas: photo,
                };
                config.check().map_err(|e| bytes_err(e.to_string()))?;
                Architecture::Patch(config)
            }
            other => {
                return Err(bytes_err(format!(
                    "architecture '{other}' is unknown (expected mlp2d, conv, unet or patch)"
                )));
            }
        })
    }

    fn schedule(&self) -> Result<ScheduleSpec, ModelError> {
        let kind: ScheduleKind = self
            .get("schedule")?
            .parse()
            .map_err(|e| bytes_err(format!("metadata `schedule`: {e}")))?;
        let mut schedule = ScheduleSpec::new(kind, self.num("T")?);
        schedule.beta_start = self.opt_f64("beta_start")?;
        schedule.beta_end = self.opt_f64("beta_end")?;
        schedule.beta = self.opt_f64("beta")?;
        schedule.zero_terminal_snr = self.0.get("zero_terminal_snr").is_some_and(|v| v == "true");
        crate::diffusion::Schedule::new(&schedule)
            .map_err(|e| bytes_err(format!("its schedule is invalid: {e}")))?;
        Ok(schedule)
    }

    /// The objective (absent: `eps`, as in every file before flow matching); an unknown
    /// value is refused.
    fn objective(&self) -> Result<Objective, ModelError> {
        let key = super::flow_matching::METADATA_KEY;
        self.0.get(key).map_or(Ok(Objective::Epsilon), |v| {
            v.parse()
                .map_err(|_| bytes_err(format!("metadata `{key}` = '{v}' is not eps or flow-matching")))
        })
    }

    fn info(&self, schedule: ScheduleSpec, objective: Objective) -> ModelInfo {
        ModelInfo {
            objective,
            schedule,
            dataset: self.0.get("dataset").cloned().unwrap_or_default(),
            iterations: self.0.get("iterations").and_then(|v| v.parse().ok()).unwrap_or(0),
            seed: self.0.get("seed").and_then(|v| v.parse().ok()).unwrap_or(0),
            ema: self.0.get("ema").and_then(|v| v.parse().ok()),
            command: self.0.get("command").cloned().unwrap_or_default(),
        }
    }
}

/// The tensors of `arch`, each checked for presence, shape, type and finiteness.
fn read_params(tensors: &SafeTensors<'_>, arch: Architecture) -> Result<Vec<Param>, ModelError> {
    read_layout(tensors, arch.layout(), &format!("the architecture {arch}"))
}

/// The tensors of `layout`, each checked for presence, shape, type and finiteness, and
/// no others; `declared` names what the file's metadata declares, for the messages (the
/// denoisers' files and the VAEs', `super::vae_io`).
pub(super) fn read_layout(
    tensors: &SafeTensors<'_>,
    layout: Vec<(String, Vec<usize>)>,
    declared: &str,
) -> Result<Vec<Param>, ModelError> {
    let mut params = Vec::new();
    for (name, shape) in layout {
        let view = tensors.tensor(&name).map_err(|_| {
            bytes_err(format!(
                "tensor `{name}` is missing: the weights are not of {declared}, which the file declares"
            ))
        })?;
        if view.shape() != shape.as_slice() {
            return Err(bytes_err(format!(
                "tensor `{name}` has shape {:?}, {declared} needs {shape:?}",
                view.shape()
            )));
        }
        if view.dtype() != Dtype::F32 {
            return Err(bytes_err(format!(
                "tensor `{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(bytes_err(format!(
                "tensor `{name}` holds a non-finite value at index {i}"
            )));
        }
        params.push(Param { name, shape, data });
    }
    if tensors.len() != params.len() {
        let extra = tensors
            .names()
            .into_iter()
            .find(|n| !params.iter().any(|p| p.name == *n))
            .unwrap_or("?");
        return Err(bytes_err(format!("unexpected tensor `{extra}` for {declared}")));
    }
    Ok(params)
}

/// Reads a model from safetensors bytes (errors name the file as `<bytes>`).
pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, ModelError> {
    let invalid = |e: safetensors::SafeTensorError| bytes_err(format!("not a valid safetensors file ({e})"));
    let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let meta = Meta(header.metadata().clone().unwrap_or_default());
    let arch = meta.architecture(tensors.len())?;
    let schedule = meta.schedule()?;
    let objective = meta.objective()?;
    if objective == Objective::FlowMatching && (!matches!(arch, Architecture::Mlp2d(_)) || arch.classes() > 0)
    {
        return Err(bytes_err(format!(
            "metadata `objective` = 'flow-matching' for a {arch}: flow matching is for unconditional 2D models"
        )));
    }
    let params = read_params(&tensors, arch)?;
    let network = Network::from_params(arch, params).map_err(|e| bytes_err(e.to_string()))?;
    Ok(Checkpoint {
        network,
        info: meta.info(schedule, objective),
    })
}
