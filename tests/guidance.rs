//! Class-conditional models and classifier-free guidance (Ho & Salimans 2022): the guided
//! ε̃ against its formula, `w = 0` against the conditional model, the 2D model's class
//! table, labelled training sets, label dropout, weights files that say what they are,
//! and the window's readout of what guidance trades.

use diffscope::data::{self, Dataset};
use diffscope::diffusion::noise::fill_normal_f32;
use diffscope::diffusion::{Schedule, ScheduleKind, ScheduleSpec};
use diffscope::model::classes::{ClassChoice, Guidance, draw_labels};
use diffscope::model::conv::ConvConfig;
use diffscope::model::mlp::{Mlp2d, MlpConfig};
use diffscope::model::sample::Denoiser;
use diffscope::model::train::{TrainSet, TrainSettings, Trainer};
use diffscope::model::{Architecture, Checkpoint, ModelInfo, Network, io};
use diffscope::scene::guidance::{LabelledData, measure};

/// A small conditional 2D model: width 16, one block, embedding 16, two classes.
const SMALL_2D: MlpConfig = MlpConfig {
    hidden: 16,
    blocks: 1,
    embedding: 16,
    classes: 2,
};

fn points(n: usize, seed: u64) -> Vec<f32> {
    let mut x = vec![0f32; 2 * n];
    fill_normal_f32(seed, 3, &mut x);
    x
}

/// `ε̃ = (1 + w)·ε̂(x, c) − w·ε̂(x, ∅)` value for value, and `w = 0` is the conditional
/// model itself, bit for bit.
#[test]
fn guided_eps_is_the_cfg_combination_and_w0_is_the_conditional_model() {
    let net = Network::Mlp(Mlp2d::new(SMALL_2D, 4));
    let schedule = Schedule::new(&ScheduleSpec::default()).unwrap();
    let x = points(7, 1);
    let labels = vec![0, 1, 1, 0, 0, 1, 0];
    let inf = net.inference().unwrap();
    let conditional = inf.predict_eps_labelled(&x, 300.0, &labels).unwrap();
    let unconditional = inf.predict_eps_labelled(&x, 300.0, &[]).unwrap();
    assert_ne!(conditional, unconditional);
    for w in [0.0f32, 1.0, 3.0, 7.5] {
        let guided = Denoiser::Guided(
            net.inference().unwrap(),
            Guidance {
                labels: labels.clone(),
                weight: w,
            },
        );
        let eps = guided.predict_eps(&schedule, &x, 300).unwrap();
        for i in 0..eps.len() {
            let want = (1.0 + w) * conditional[i] - w * unconditional[i];
            assert!((eps[i] - want).abs() <= 1e-6 * (1.0 + want.abs()), "w = {w}, {i}");
        }
        if w == 0.0 {
            assert_eq!(eps, conditional);
        }
    }
}

/// The 2D model's class table gets the gradient of central differences of its own loss.
#[test]
fn mlp_class_table_gradient_matches_finite_differences() {
    let net = Mlp2d::new(SMALL_2D, 2);
    let x = points(5, 2);
    let mut eps = vec![0f32; 10];
    fill_normal_f32(2, 4, &mut eps);
    let t = [3.0, 100.0, 500.0, 800.0, 999.0];
    let labels = [0, 2, 1, 1, 2];
    let (_, grads) = net.loss_and_grads(&x, &t, &eps, &labels).unwrap();
    let table = net.params.len() - 1;
    assert_eq!(net.params[table].name, "class_emb.weight");
    assert_eq!(net.params[table].shape, vec![3, 16]);
    let h = 1e-2f32;
    for (j, &got) in grads[table].iter().enumerate() {
        let loss_at = |delta: f32| {
            let mut q = net.clone();
            q.params[table].data[j] += delta;
            f64::from(q.loss_and_grads(&x, &t, &eps, &labels).unwrap().0)
        };
        let fd = (loss_at(h) - loss_at(-h)) / (2.0 * f64::from(h));
        let got = f64::from(got);
        assert!(
            (got - fd).abs() < 2e-2 * fd.abs() + 2e-4,
            "class_emb[{j}]: {got} vs {fd}"
        );
    }
    // An unconditional model takes no labels.
    let plain = Mlp2d::new(
        MlpConfig {
            classes: 0,
            ..SMALL_2D
        },
        2,
    );
    assert!(plain.loss_and_grads(&x, &t, &eps, &labels).is_err());
}

/// The digits keep their labels through the split; the labelled 2D sets label by index;
/// unlabelled sets have none.
#[test]
fn training_sets_carry_their_labels() {
    let set = TrainSet::digits(3).unwrap();
    let digits = data::digits().unwrap();
    assert_eq!(set.classes, 10);
    assert_eq!(set.train_labels.len(), set.len());
    assert_eq!(set.held_out_labels.len(), set.held_out.len() / 64);
    // Every training image's label is the label of that image in the data.
    for (im, &label) in set.train.chunks_exact(64).zip(&set.train_labels).take(200) {
        let i = digits.images.iter().position(|d| d[..] == im[..]).unwrap();
        assert_eq!(usize::from(digits.labels[i]), label);
    }
    let moons = TrainSet::dataset(Dataset::TwoMoons, 1);
    assert_eq!(moons.classes, 2);
    // Upper moon (label 0) above the lower one on average, in standardised coordinates.
    let mean_y = |c: usize| {
        let ys: Vec<f32> = moons
            .train
            .chunks_exact(2)
            .zip(&moons.train_labels)
            .filter(|(_, l)| **l == c)
            .map(|(p, _)| p[1])
            .collect();
        ys.iter().sum::<f32>() / ys.len() as f32
    };
    assert!(mean_y(0) > mean_y(1) + 0.5, "{} vs {}", mean_y(0), mean_y(1));
    let eight = TrainSet::dataset(Dataset::EightGaussians, 1);
    assert_eq!(eight.classes, 8);
    for (p, &c) in eight.train.chunks_exact(2).zip(&eight.train_labels).take(64) {
        let angle = f64::from(p[1])
            .atan2(f64::from(p[0]))
            .to_degrees()
            .rem_euclid(360.0);
        let want = 45.0 * c as f64;
        let off = (angle - want + 180.0).rem_euclid(360.0) - 180.0;
        assert!(off.abs() < 10.0, "mode {c} at {angle}°");
    }
    let roll = TrainSet::dataset(Dataset::SwissRoll, 1);
    assert_eq!((roll.classes, roll.train_labels.len()), (0, 0));
}

/// A conditional model needs labelled data of its class count; label dropout must be a
/// share.
#[test]
fn trainer_refuses_conditional_models_without_their_labels() {
    let settings = TrainSettings {
        iterations: 2,
        ..TrainSettings::default()
    };
    let eight = Network::Mlp(Mlp2d::new(
        MlpConfig {
            classes: 8,
            ..SMALL_2D
        },
        1,
    ));
    let err = Trainer::new(
        eight.clone(),
        TrainSet::dataset(Dataset::SwissRoll, 1),
        settings.clone(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("needs labelled data"), "{err}");
    let err = Trainer::new(
        eight.clone(),
        TrainSet::dataset(Dataset::TwoMoons, 1),
        settings.clone(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("conditional on 8 classes"), "{err}");
    let bad = TrainSettings {
        label_dropout: 1.5,
        ..settings.clone()
    };
    assert!(Trainer::new(eight.clone(), TrainSet::dataset(Dataset::EightGaussians, 1), bad).is_err());
    let mut ok = Trainer::new(eight, TrainSet::dataset(Dataset::EightGaussians, 1), settings).unwrap();
    assert!(ok.step().unwrap().is_finite());
}

/// Label dropout trains the null row: with dropout 0 the null row gets no gradient, so
/// only AdamW's weight decay moves it (by exactly `Π(1 − lr_i·λ)`, λ = 0.01); with dropout 1
/// the class rows get none; with 15 % both train.
#[test]
fn label_dropout_decides_which_rows_train() {
    let run = |dropout: f32| {
        let net = Network::Mlp(Mlp2d::new(SMALL_2D, 3));
        let before = net.params().last().unwrap().data.clone();
        let settings = TrainSettings {
            iterations: 5,
            batch: 64,
            lr: 1e-2,
            label_dropout: dropout,
            ..TrainSettings::default()
        };
        let decay: f32 = (0..5).map(|i| 1.0 - settings.lr_at(i) * 0.01).product();
        let mut trainer = Trainer::new(net, TrainSet::dataset(Dataset::TwoMoons, 1), settings).unwrap();
        for _ in 0..5 {
            trainer.step().unwrap();
        }
        let after = trainer.model().network.params().last().unwrap().data.clone();
        // How far each row moved beyond weight decay alone.
        let moved = |row: usize| -> f32 {
            (0..16)
                .map(|j| (after[row * 16 + j] - decay * before[row * 16 + j]).abs())
                .sum()
        };
        (moved(0) + moved(1), moved(2))
    };
    let (classes, null) = run(0.0);
    assert!(
        classes > 0.1 && null < 1e-5,
        "no dropout: classes {classes}, null {null}"
    );
    let (classes, null) = run(1.0);
    assert!(
        classes < 1e-5 && null > 0.1,
        "all dropped: classes {classes}, null {null}"
    );
    let (classes, null) = run(0.15);
    assert!(
        classes > 0.1 && null > 0.1,
        "15 %: classes {classes}, null {null}"
    );
}

/// A conditional file says so (`classes`, `null_label`) and loads back as itself; a file
/// with a class table but no `classes` key is refused by name, as is one declaring
/// classes its tensors do not have.
#[test]
fn weights_files_say_whether_they_are_conditional() {
    let model = |arch: Architecture| Checkpoint {
        network: Network::new(arch, 1),
        info: ModelInfo {
            schedule: ScheduleSpec::new(ScheduleKind::Linear, 10),
            dataset: "digits".into(),
            iterations: 0,
            seed: 1,
            ema: None,
            command: String::new(),
            objective: diffscope::model::Objective::Epsilon,
        },
    };
    let cond = model(Architecture::Conv(ConvConfig {
        features: 4,
        blocks: 1,
        classes: 10,
        ..ConvConfig::digits()
    }));
    let bytes = io::to_bytes(&cond).unwrap();
    let back = io::from_bytes(&bytes).unwrap();
    assert_eq!(back, cond);
    assert_eq!(back.network.classes(), 10);
    let header = header_of(&bytes);
    assert!(header.contains("\"classes\":\"10\"") && header.contains("\"null_label\":\"10\""));
    // The same tensors under an unconditional header: the class table is unexpected.
    let err = io::from_bytes(&with_header(
        &bytes,
        &header.replace("\"classes\"", "\"clasXes\""),
    ))
    .unwrap_err();
    assert!(err.to_string().contains("class_emb.weight"), "{err}");
    // An unconditional file declared conditional: the table is missing.
    let plain = io::to_bytes(&model(Architecture::Conv(ConvConfig {
        features: 4,
        blocks: 1,
        ..ConvConfig::digits()
    })))
    .unwrap();
    let declared = header_of(&plain).replacen(
        "\"architecture\":\"conv\"",
        "\"architecture\":\"conv\",\"classes\":\"10\"",
        1,
    );
    let err = io::from_bytes(&with_header(&plain, &declared)).unwrap_err();
    assert!(err.to_string().contains("class_emb.weight"), "{err}");
}

/// The JSON header of safetensors bytes.
fn header_of(bytes: &[u8]) -> String {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    String::from_utf8(bytes[8..8 + len].to_vec()).unwrap()
}

/// `bytes` with their header replaced by `header` (the tensors' data unchanged).
fn with_header(bytes: &[u8], header: &str) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

/// "Any class" draws each class about equally often (Monte Carlo, fixed seed: 10,000
/// draws of 10 classes, each count within 4σ of 1000), the same for the same seed.
#[test]
fn any_class_draws_classes_uniformly() {
    let labels = draw_labels(10, 10_000, 5);
    assert_eq!(labels, draw_labels(10, 10_000, 5));
    assert_ne!(labels, draw_labels(10, 10_000, 6));
    let sigma = (10_000.0f64 * 0.1 * 0.9).sqrt();
    for c in 0..10 {
        let count = labels.iter().filter(|&&l| l == c).count() as f64;
        assert!((count - 1000.0).abs() < 4.0 * sigma, "class {c}: {count}");
    }
    assert_eq!(ClassChoice::Class(3).labels(10, 4, 0).unwrap(), vec![3; 4]);
    assert!(ClassChoice::Class(10).labels(10, 4, 0).is_err());
    assert_eq!(ClassChoice::Class(10).within(10), ClassChoice::Any);
    assert_eq!(ClassChoice::Class(9).within(10), ClassChoice::Class(9));
}

/// The window's readout: the data themselves are classified surely and as labelled, and
/// are exactly as varied as the data; one repeated example has no diversity.
#[test]
fn guidance_readout_of_the_data_themselves() {
    let reference = LabelledData::of("8gaussians").unwrap();
    let n = 400;
    let samples = &reference.data[..2 * n];
    let labels = &reference.labels[..n];
    let r = measure(&reference, samples, labels, ClassChoice::Any, 0.0).unwrap();
    assert!(r.confidence > 0.99 && r.as_asked > 0.99, "{r:?}");
    assert!((r.diversity - 1.0).abs() < 0.05, "{r:?}");
    let same: Vec<f32> = samples[..2].repeat(50);
    let r = measure(&reference, &same, &[0; 50], ClassChoice::Class(0), 3.0).unwrap();
    assert_eq!(r.diversity, 0.0);
    assert!(LabelledData::of("swiss-roll").is_none());
    let glyphs = LabelledData::of("glyphs").unwrap();
    assert_eq!((glyphs.labels.len(), glyphs.dim, glyphs.classes), (2000, 784, 10));
    let digits = LabelledData::of("digits").unwrap();
    let r = measure(
        &digits,
        &digits.data[..64 * 300],
        &digits.labels[..300],
        ClassChoice::Any,
        0.0,
    )
    .unwrap();
    // Each digit is its own nearest neighbour: sure, and nearly always as labelled.
    assert!(r.confidence > 0.9 && r.as_asked > 0.95, "{r:?}");
}
