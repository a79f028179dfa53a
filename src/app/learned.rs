//! Which learned model the worker holds: the shipped weights of the data on screen, the
//! model trained in this window, or a weights file; saving it.

use std::path::PathBuf;

use super::DiffscopeApp;
use super::reverse::LearnedOrigin;
use super::settings::DenoiserKind;
use crate::model::Objective;
use crate::scene::prepare::{shipped_flow_name, shipped_name};
use crate::worker::model::ModelCommand;

impl DiffscopeApp {
    /// Loads the shipped weights of the data on screen, if there are any (`user`: the user
    /// asked, so say so if there are none, and switch to the learned model; unasked, with
    /// Euler or Heun chosen, flow matching's).
    pub(super) fn use_shipped_if_any(&mut self, user: bool) {
        // Unasked (new data, start-up) with a flow-matching sampler chosen: that model of
        // the data, if one is shipped; the user's "shipped weights" are diffusion's.
        let flow = !user && self.settings.reverse.sampler.objective() == Objective::FlowMatching;
        let name = flow
            .then(|| shipped_flow_name(&self.model.scene))
            .flatten()
            .or_else(|| shipped_name(&self.model.scene));
        match name {
            Some(name) => self.use_shipped(name, user),
            None if user => {
                let names: Vec<&str> = crate::model::shipped::names().collect();
                self.model.status.error = Some(format!(
                    "no shipped weights for {} (shipped: {}); train a model, load a file, or use the ideal denoiser",
                    self.model.scene.name,
                    if names.is_empty() {
                        "none yet".to_owned()
                    } else {
                        names.join(", ")
                    }
                ));
            }
            None => {}
        }
    }

    /// Loads the shipped weights `name` (`user`: the user asked: switch to the learned
    /// model even if the worker holds them already).
    pub(super) fn use_shipped(&mut self, name: String, user: bool) {
        let learning = &mut self.model.learning;
        let held = learning
            .learned
            .as_ref()
            .is_some_and(|m| m.origin == LearnedOrigin::Shipped(name.clone()));
        if held && !user {
            return;
        }
        // Already on its way (the data was just opened): the user's choice waits for it.
        if learning.pending == Some(LearnedOrigin::Shipped(name.clone())) {
            learning.pending_user |= user;
            return;
        }
        if held {
            self.settings.reverse.denoiser = DenoiserKind::Learned;
            return;
        }
        self.ml.send(ModelCommand::UseShipped(name.clone()));
        learning.pending = Some(LearnedOrigin::Shipped(name));
        learning.pending_user = user;
    }

    pub(super) fn use_trained(&mut self) {
        let learning = &mut self.model.learning;
        if learning
            .learned
            .as_ref()
            .is_some_and(|m| m.origin == LearnedOrigin::Trained)
        {
            self.settings.reverse.denoiser = DenoiserKind::Learned;
            return;
        }
        match learning.trained_file.clone() {
            Some(path) => {
                self.ml.send(ModelCommand::Load(path));
                learning.pending = Some(LearnedOrigin::Trained);
                learning.pending_user = true;
            }
            None => self.model.status.error = Some("no model trained yet: press Train first".into()),
        }
    }

    pub(super) fn load_model(&mut self, path: PathBuf) {
        let points = matches!(self.model.scene.data, crate::scene::SceneData::Points(_));
        self.ml.send(ModelCommand::LoadFor {
            path: path.clone(),
            points,
        });
        self.model.learning.pending = Some(LearnedOrigin::File(path));
        self.model.learning.pending_user = true;
    }

    pub(super) fn save_model(&mut self, mut path: PathBuf) {
        if self.model.learning.learned.is_none() {
            self.model.status.error = Some("there is no learned model to save yet".into());
            return;
        }
        if path.extension().is_none() {
            path.set_extension("safetensors");
        }
        self.ml.send(ModelCommand::Save(path));
    }
}
