//! The single-image model ("learn this photo", `model::patch`): its crops, that it is
//! fully convolutional (the same weights on two canvases agree wherever a pixel's window
//! holds the same values), that each output pixel sees exactly the receptive field the
//! code states (finite differences of ε̂ against every input pixel), its weights file, and
//! at the `model` worker: refused for 2D points, trained (a NaN and a panic as for every
//! model), sampled on a canvas of another size; in the window: trained and sampled wide.

use diffscope::app::Command;
use diffscope::app::reverse::LearnedOrigin;
use diffscope::app::settings::{
    Canvas, DenoiserKind, PhotoTraining, ReverseSettings, SamplerKind, Settings, SourceChoice, Tab,
};
use diffscope::data::ImageData;
use diffscope::diffusion::{ScheduleKind, ScheduleSpec};
use diffscope::model::conv::ConvConfig;
use diffscope::model::patch::{PatchConfig, crops};
use diffscope::model::train::{PHOTO_PREVIEW_SAMPLES, TrainSettings};
use diffscope::model::{Architecture, Checkpoint, DataShape, ModelInfo, Network, io};
use diffscope::scene::prepare::photo_train_set;
use diffscope::worker::model::{ModelCommand, ModelEvent, ModelWorker, TrainEnd, TrainJob};

use crate::model_worker::{sample_job, scratch, small_model, wait_for};
use crate::ui::{harness_with, label_starting, step_until};

/// A 24×16 RGB photo: smooth gradients with a bright square (HWC in [-1, 1]).
fn tiny_photo() -> ImageData {
    let (w, h) = (24u32, 16u32);
    let mut pixels = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let square = (8..13).contains(&x) && (5..10).contains(&y);
            let base = x as f32 / w as f32 - y as f32 / h as f32;
            pixels.extend([base, -base, if square { 1.0 } else { -0.5 }]);
        }
    }
    ImageData {
        width: w,
        height: h,
        channels: 3,
        pixels,
        source_size: (w, h),
    }
}

/// A small single-image network: `features` channels, `blocks` blocks, of a 24×16 photo.
fn tiny_config(channels: usize, features: usize, blocks: usize) -> PatchConfig {
    PatchConfig {
        channels,
        photo: (16, 24),
        crop: 12,
        features,
        blocks,
        canvas: (16, 24),
    }
}

/// Deterministic values in [-1, 1].
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn every_crop_is_a_window_of_the_image_and_the_last_row_and_column_are_kept() {
    // One channel, 5 × 7, value = 10·y + x.
    let img: Vec<f32> = (0..5)
        .flat_map(|y| (0..7).map(move |x| (10 * y + x) as f32))
        .collect();
    let all = crops(&img, 1, 5, 7, 3, 2);
    // Starts: rows 0, 2; columns 0, 2, 4 (4 = 7 − 3 is the last).
    assert_eq!(all.len(), 6);
    assert_eq!(all[2], vec![4.0, 5.0, 6.0, 14.0, 15.0, 16.0, 24.0, 25.0, 26.0]);
    assert_eq!(all[3], vec![20.0, 21.0, 22.0, 30.0, 31.0, 32.0, 40.0, 41.0, 42.0]);
    // Stride 3 on 7 columns: 0, 3 and the last, 4.
    let firsts: Vec<f32> = crops(&img, 1, 5, 7, 3, 3).iter().map(|c| c[0]).collect();
    assert_eq!(firsts, vec![0.0, 3.0, 4.0, 20.0, 23.0, 24.0]);
    // Two channels: each crop is CHW, the second plane after the first.
    let two: Vec<f32> = img.iter().copied().chain(img.iter().map(|v| -v)).collect();
    let c = &crops(&two, 2, 5, 7, 3, 2)[2];
    assert_eq!(&c[9..12], &[-4.0, -5.0, -6.0]);
    // A crop larger than the image: none.
    assert!(crops(&img, 1, 5, 7, 6, 1).is_empty());
}

#[test]
fn a_photo_trains_on_every_crop_of_it_at_its_working_size() {
    let (set, arch) = photo_train_set("tiny", &tiny_photo(), 24, Some(12), 1).unwrap();
    let Architecture::Patch(c) = arch else {
        panic!("a photo trains the single-image model, got {arch}")
    };
    assert_eq!((c.photo, c.crop, c.channels), ((16, 24), 12, 3));
    // (16 − 12 + 1)·(24 − 12 + 1) = 65 crops; a tenth (6) held out.
    assert_eq!(set.len() + set.held_out.len() / set.shape.dim(), 65);
    assert_eq!(set.held_out.len() / set.shape.dim(), 6);
    assert_eq!(set.shape, c.crop_shape());
    // The window's default: long side 64 is never an enlargement of a smaller photo.
    let (_, arch) = photo_train_set("tiny", &tiny_photo(), 64, None, 1).unwrap();
    let Architecture::Patch(c) = arch else {
        unreachable!()
    };
    assert_eq!((c.photo, c.crop), ((16, 24), 16), "crops of the short side");
    // A crop that does not fit is refused, with the sizes.
    let e = photo_train_set("tiny", &tiny_photo(), 24, Some(20), 1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "single-image model: crops of 20×20 do not fit its 24×16 photo"
    );
}

#[test]
fn the_same_weights_denoise_two_canvas_sizes_alike_away_from_their_edges() {
    let cfg = tiny_config(3, 8, 2);
    let net = Network::new(Architecture::Patch(cfg), 1);
    let radius = (cfg.receptive_field() - 1) / 2;
    assert_eq!(cfg.receptive_field(), 17);
    let (ha, wa) = (20, 22);
    let (hb, wb, oy, ox) = (30, 40, 5, 9);
    let a = values(3 * ha * wa, 1);
    let mut b = values(3 * hb * wb, 2);
    for c in 0..3 {
        for y in 0..ha {
            for x in 0..wa {
                b[(c * hb + y + oy) * wb + x + ox] = a[(c * ha + y) * wa + x];
            }
        }
    }
    let eps = |h: usize, w: usize, x: &[f32]| {
        net.with_canvas(h, w)
            .unwrap()
            .inference()
            .unwrap()
            .predict_eps(x, 300)
            .unwrap()
    };
    let (ea, eb) = (eps(ha, wa, &a), eps(hb, wb, &b));
    assert_eq!((ea.len(), eb.len()), (a.len(), b.len()));
    let (mut inside, mut edge_differs) = (0, false);
    for c in 0..3 {
        for y in 0..ha {
            for x in 0..wa {
                let (va, vb) = (ea[(c * ha + y) * wa + x], eb[(c * hb + y + oy) * wb + x + ox]);
                let interior = (radius..ha - radius).contains(&y) && (radius..wa - radius).contains(&x);
                if interior {
                    assert!(
                        (va - vb).abs() < 1e-5,
                        "pixel ({y}, {x}) channel {c}: {va} vs {vb}"
                    );
                    inside += 1;
                } else if (va - vb).abs() > 1e-3 {
                    edge_differs = true;
                }
            }
        }
    }
    assert_eq!(inside, 3 * 4 * 6);
    assert!(edge_differs, "near A's edge, B's other neighbours change ε̂");
}

#[test]
fn each_output_pixel_sees_exactly_the_receptive_field_the_config_states() {
    // Finite differences of ε̂ at the centre pixel against every input pixel, all in one
    // batch: image 0 is the base, image 1 + p has pixel p raised by 0.5.
    let cfg = PatchConfig {
        canvas: (41, 41),
        ..tiny_config(1, 4, 3)
    };
    assert_eq!(cfg.receptive_field(), 33);
    let mut net = Network::new(Architecture::Patch(cfg), 3);
    // Larger weights (×3), so that the corners' long paths stay far above rounding.
    for p in net.params_mut() {
        if p.shape.len() == 4 {
            p.data.iter_mut().for_each(|v| *v *= 3.0);
        }
    }
    let side = 41;
    let pixels = side * side;
    let base = values(pixels, 5);
    let mut batch = base.clone();
    for p in 0..pixels {
        let mut x = base.clone();
        x[p] += 0.5;
        batch.extend(x);
    }
    let eps = net.inference().unwrap().predict_eps(&batch, 200).unwrap();
    let centre = 20 * side + 20;
    let seen: Vec<(usize, usize)> = (0..pixels)
        .filter(|&p| eps[(1 + p) * pixels + centre] != eps[centre])
        .map(|p| (p / side, p % side))
        .collect();
    let rows = seen.iter().map(|p| p.0);
    let cols = seen.iter().map(|p| p.1);
    let (top, bottom) = (rows.clone().min().unwrap(), rows.max().unwrap());
    let (left, right) = (cols.clone().min().unwrap(), cols.max().unwrap());
    assert_eq!(
        (top, bottom, left, right),
        (4, 36, 4, 36),
        "a 33×33 window around (20, 20)"
    );
    assert_eq!(seen.len(), 33 * 33, "every pixel of the window matters");
}

#[test]
fn a_photo_model_round_trips_with_its_photo_and_bad_headers_are_refused() {
    let cfg = tiny_config(3, 8, 2);
    let model = Checkpoint {
        network: Network::new(Architecture::Patch(cfg), 1),
        info: ModelInfo {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
            dataset: "tiny.png".into(),
            iterations: 7,
            seed: 1,
            ema: Some(0.999),
            command: "diffscope train --image tiny.png".into(),
            objective: diffscope::model::Objective::Epsilon,
        },
    };
    let back = io::from_bytes(&io::to_bytes(&model).unwrap()).unwrap();
    assert_eq!(back, model);
    // A canvas is not saved: the file samples its photo's size.
    let wide = Checkpoint {
        network: model.network.with_canvas(16, 48).unwrap(),
        ..model.clone()
    };
    let back = io::from_bytes(&io::to_bytes(&wide).unwrap()).unwrap();
    assert_eq!(back.network.architecture().data_shape(), cfg.canvas_shape());
    // Headers a photo model cannot have.
    for (bad, message) in [
        (
            PatchConfig { crop: 20, ..cfg },
            "single-image model: crops of 20×20 do not fit its 24×16 photo",
        ),
        (
            PatchConfig {
                photo: (16, 200),
                ..cfg
            },
            "single-image model: a photo of 200×16 is not 1…128 px a side",
        ),
    ] {
        let file = Checkpoint {
            network: Network::new(Architecture::Patch(bad), 1),
            ..model.clone()
        };
        let e = io::from_bytes(&io::to_bytes(&file).unwrap()).unwrap_err();
        assert!(e.to_string().ends_with(message), "{e}");
    }
}

#[test]
fn only_a_single_image_model_takes_a_canvas_and_a_canvas_has_bounds() {
    let conv = Network::new(Architecture::Conv(ConvConfig::digits()), 1);
    let e = conv.with_canvas(16, 16).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("only a single-image model samples a canvas of another size; this is a conv net"),
        "{e}"
    );
    let net = Network::new(Architecture::Patch(tiny_config(3, 8, 2)), 1);
    assert_eq!(
        net.with_canvas(16, 600).unwrap_err().to_string(),
        "a canvas of 600×16 is not 1…512 px a side"
    );
    assert_eq!(
        net.with_canvas(0, 10).unwrap_err().to_string(),
        "a canvas of 10×0 is not 1…512 px a side"
    );
}

/// A training job of the tiny photo's single-image model.
fn photo_job(generation: u64, iterations: u64) -> Box<TrainJob> {
    let (set, architecture) = photo_train_set("tiny", &tiny_photo(), 24, Some(12), 1).unwrap();
    let Architecture::Patch(c) = architecture else {
        unreachable!()
    };
    Box::new(TrainJob {
        generation,
        set,
        architecture: Architecture::Patch(PatchConfig {
            features: 8,
            blocks: 2,
            ..c
        }),
        settings: TrainSettings {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 50),
            batch: 2,
            iterations,
            ..TrainSettings::for_photo()
        },
        objective: diffscope::model::Objective::Epsilon,
    })
}

#[test]
fn the_worker_refuses_a_photo_model_for_points_trains_one_and_samples_a_wider_canvas() {
    let dir = scratch("patch");
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let points = dir.join("points.safetensors");
    io::save(&small_model(8), &points).unwrap();
    worker.send(ModelCommand::LoadFor {
        path: points,
        points: true,
    });
    wait_for(&worker, "the 2D model", |e| {
        matches!(e, ModelEvent::ModelReady(_)).then_some(())
    });

    // Trained on the photo: progress, an evaluation with image samples, the model.
    worker.send(ModelCommand::Train(photo_job(2, 4)));
    let images = wait_for(&worker, "the evaluation", |e| match e {
        ModelEvent::Evaluated { evaluation, .. } => Some(evaluation.images.clone()),
        ModelEvent::Failed { message, .. } => panic!("{message}"),
        _ => None,
    });
    let (shape, values) = images.expect("a single-image model's evaluation has samples");
    assert_eq!(shape, tiny_config(3, 8, 2).canvas_shape());
    assert_eq!(values.len(), PHOTO_PREVIEW_SAMPLES * shape.dim());
    assert!(values.iter().all(|v| v.is_finite()));
    let summary = wait_for(&worker, "the trained model", |e| match e {
        ModelEvent::ModelReady(s) => Some(s.clone()),
        _ => None,
    });
    assert_eq!(
        (summary.photo, summary.dataset.as_str()),
        (Some((16, 24)), "tiny")
    );
    let photo = dir.join("photo.safetensors");
    worker.send(ModelCommand::Save(photo.clone()));
    wait_for(&worker, "saved", |e| {
        matches!(e, ModelEvent::Saved(_)).then_some(())
    });

    // A 2× wide canvas: 2 samples of 3 × 16 × 48.
    let mut job = sample_job(3, diffscope::worker::model::DenoiserChoice::Learned, false);
    job.start = diffscope::worker::model::ChainStart::Noise { n: 2 };
    job.canvas = Some((16, 48));
    worker.send(ModelCommand::Sample(job));
    let x = wait_for(&worker, "the chain's end", |e| match e {
        ModelEvent::SampleFrame { frame, .. } if frame.t == 0 => Some(frame.x.clone()),
        ModelEvent::Failed { message, .. } => panic!("{message}"),
        _ => None,
    });
    assert_eq!(x.len(), 2 * 3 * 16 * 48);
    assert!(x.iter().all(|v| v.is_finite()));

    // With points on screen the photo model is refused and the trained one kept.
    worker.send(ModelCommand::LoadFor {
        path: photo.clone(),
        points: true,
    });
    let message = wait_for(&worker, "the refusal", |e| match e {
        ModelEvent::Failed { message, .. } => Some(message.clone()),
        ModelEvent::ModelReady(_) => panic!("a photo model was loaded for points"),
        _ => None,
    });
    assert_eq!(
        message,
        format!(
            "{}: a single-image model of the 24×16 photo 'tiny' denoises photos, not the 2D points on screen; open a photo to use it (the current model is kept)",
            photo.display()
        )
    );
}

#[test]
fn a_photo_models_nan_and_panic_end_its_run_as_for_every_model() {
    let worker = ModelWorker::spawn(Box::new(|| {}));
    let mut job = photo_job(1, 100);
    job.settings.nan_loss_at_iteration = Some(3);
    worker.send(ModelCommand::Train(job));
    let end = wait_for(&worker, "the divergence", |e| match e {
        ModelEvent::TrainFinished { end, .. } => Some(end.clone()),
        _ => None,
    });
    assert_eq!(
        end,
        TrainEnd::Diverged(
            "training stopped: the loss became NaN at iteration 3; no weights of this run are kept (try a smaller learning rate)"
                .into()
        )
    );
    let mut job = photo_job(2, 100);
    job.settings.panic_at_iteration = Some(2);
    worker.send(ModelCommand::Train(job));
    let message = wait_for(&worker, "the panic", |e| match e {
        ModelEvent::Failed {
            generation: 2,
            message,
        } => Some(message.clone()),
        _ => None,
    });
    assert_eq!(
        message,
        "internal error (panic): injected fault: training panicked after 2 iterations"
    );
}

#[test]
fn the_window_learns_the_cat_and_samples_it_on_a_wider_canvas() {
    let mut harness = harness_with(Settings {
        source: SourceChoice::Image("cat".into()),
        schedule: ScheduleSpec::new(ScheduleKind::Linear, 20),
        t: 20,
        tab: Tab::Reverse,
        show_math: false,
        reverse: ReverseSettings {
            denoiser: DenoiserKind::Learned,
            sampler: SamplerKind::DdpmBeta,
            max_speed: true,
            n_photos: 2,
            canvas: Canvas::Wide,
            photo_train: PhotoTraining {
                iterations: 3,
                batch: 1,
                ..PhotoTraining::default()
            },
            ..ReverseSettings::default()
        },
        ..Settings::default()
    });
    step_until(&mut harness, "the cat", |app| app.model.scene.name == "cat");
    label_starting(&harness, "on learn this photo: cat at 64×43, random 43×43 crops");
    harness.state_mut().push(Command::Train);
    harness.run_steps(1);
    step_until(&mut harness, "the trained model", |app| {
        app.model.learning.learned.as_ref().is_some_and(|m| {
            m.origin == LearnedOrigin::Trained
                && m.summary.photo == Some((43, 64))
                && m.summary.iterations == 3
        })
    });
    let training = harness.state().model.learning.training.clone().unwrap();
    assert_eq!(training.what, "cat at 64×43 (20 crops of 43×43)");
    assert!(training.images.is_some(), "the centre shows the model's samples");
    harness.state_mut().push(Command::Sample);
    harness.run_steps(1);
    step_until(&mut harness, "the chain's end", |app| {
        app.model.learning.chain.as_ref().is_some_and(|c| c.done)
    });
    let chain = harness.state().model.learning.chain.as_ref().unwrap();
    assert_eq!(
        chain.shape,
        DataShape::Image {
            channels: 3,
            height: 43,
            width: 128
        }
    );
    assert_eq!(chain.frames.last().unwrap().x.len(), 2 * 3 * 43 * 128);
}
