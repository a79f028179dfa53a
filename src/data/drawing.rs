//! A drawing: 2D points a person puts down with a brush and takes away with an eraser,
//! stroke by stroke, with an undo stack.
//!
//! Points live in the coordinates they were drawn in (the window's 2D view, `±3.5` a
//! side); whoever trains on them standardises them as a points CSV is
//! ([`super::standardise`]). A brush stroke is a pointer path: a click puts
//! [`Brush::click_points`] points around the pointer, and the drag one point for every
//! `1/ρ` of path length (ρ = [`Brush::density`], points per unit), each at the path plus
//! `σ·ε` (σ = [`Brush::spread`], `ε ~ N(0, I)` from [`crate::diffusion::noise`] with the
//! stroke's number as the stream): the same strokes give the same points. An eraser
//! stroke removes every point within [`Brush::eraser`] of its path. Each stroke, and a
//! clear, is one step of the undo stack.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diffusion::noise;

/// The most points a drawing holds: the largest built-in set the window offers. The
/// window saves the drawing in its settings file, so this also bounds that file (about
/// 18 bytes a point: coordinates are kept to [`QUANTUM`]).
pub const MAX_DRAWING_POINTS: usize = 20_000;

/// The fewest points a drawing must have for the window to train on it.
pub const MIN_TRAIN_POINTS: usize = 10;

/// Drawn coordinates are rounded to this (a ten-thousandth of a unit: far below a pixel
/// of the view, whose 7 units span at most a few thousand pixels), so the settings file
/// holds short numbers.
pub const QUANTUM: f64 = 1e-4;

/// How many strokes (or clears) can be undone.
pub const UNDO_DEPTH: usize = 100;

/// The path length, in data units, whose points a click puts down.
pub const CLICK_LENGTH: f64 = 0.5;

/// Seed of every brush stroke's noise (the stroke's number is its stream).
const DRAW_SEED: u64 = 0x4452_4157;

/// The brush and the eraser.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Brush {
    /// σ: the standard deviation, in data units, of the points around the path.
    pub spread: f64,
    /// ρ: points per unit of path length.
    pub density: f64,
    /// The eraser's radius, in data units.
    pub eraser: f64,
}

impl Default for Brush {
    fn default() -> Self {
        Self {
            spread: 0.08,
            density: 60.0,
            eraser: 0.25,
        }
    }
}

impl Brush {
    /// The range of [`Brush::spread`].
    pub const SPREAD: std::ops::RangeInclusive<f64> = 0.0..=1.0;
    /// The range of [`Brush::density`].
    pub const DENSITY: std::ops::RangeInclusive<f64> = 1.0..=500.0;
    /// The range of [`Brush::eraser`].
    pub const ERASER: std::ops::RangeInclusive<f64> = 0.02..=2.0;

    /// This brush with every value in its range (a non-finite one at its default).
    #[must_use]
    pub fn sanitised(self) -> Self {
        let d = Self::default();
        let fit = |v: f64, range: std::ops::RangeInclusive<f64>, default: f64| {
            if v.is_finite() {
                v.clamp(*range.start(), *range.end())
            } else {
                default
            }
        };
        Self {
            spread: fit(self.spread, Self::SPREAD, d.spread),
            density: fit(self.density, Self::DENSITY, d.density),
            eraser: fit(self.eraser, Self::ERASER, d.eraser),
        }
    }

    /// The points a click puts down: those of [`CLICK_LENGTH`] of path, at least one.
    #[must_use]
    pub fn click_points(&self) -> usize {
        (self.density * CLICK_LENGTH).round().max(1.0) as usize
    }
}

/// What a stroke does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Puts points down around the path.
    Brush,
    /// Removes the points near the path.
    Eraser,
}

/// One step of the undo stack.
#[derive(Clone, Debug)]
enum Edit {
    /// A brush stroke appended this many points.
    Added(usize),
    /// An eraser stroke removed these points, each with its index before the stroke.
    Erased(Vec<(usize, [f64; 2])>),
    /// A clear, or a new start, replaced all of these.
    Replaced(Vec<[f64; 2]>),
}

/// The stroke in progress.
#[derive(Clone, Debug)]
enum Stroke {
    Brush {
        brush: Brush,
        /// The stroke's number: its noise stream.
        serial: u64,
        /// Where the path was last.
        last: [f64; 2],
        /// Path length left before the next point.
        to_next: f64,
        /// Points put down so far (the index of the next one's noise).
        added: usize,
    },
    Eraser {
        radius: f64,
        last: [f64; 2],
        /// The points when the stroke began, and which of them are still there.
        before: Vec<[f64; 2]>,
        alive: Vec<bool>,
    },
}

/// What a finished stroke did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrokeDone {
    /// A brush stroke put down this many points (fewer than its path asked for when the
    /// drawing reached [`MAX_DRAWING_POINTS`]: `capped`).
    Added {
        /// Points put down.
        points: usize,
        /// The drawing was full before the stroke's end.
        capped: bool,
    },
    /// An eraser stroke removed this many points.
    Erased(usize),
}

/// Points drawn by hand, the stroke in progress and the undo stack.
#[derive(Clone, Debug, Default)]
pub struct Drawing {
    points: Vec<[f64; 2]>,
    undo: VecDeque<Edit>,
    stroke: Option<Stroke>,
    /// Strokes begun so far (numbers the next one).
    strokes: u64,
    capped: bool,
}

impl Drawing {
    /// A drawing that starts from `points` (non-finite ones left out, at most
    /// [`MAX_DRAWING_POINTS`]), with nothing to undo.
    #[must_use]
    pub fn new(points: &[[f64; 2]]) -> Self {
        Self {
            points: sanitised_points(points),
            ..Self::default()
        }
    }

    /// The points, in the coordinates they were drawn in.
    #[must_use]
    pub fn points(&self) -> &[[f64; 2]] {
        &self.points
    }

    /// Whether a stroke is in progress.
    #[must_use]
    pub const fn stroking(&self) -> bool {
        self.stroke.is_some()
    }

    /// The tool of the stroke in progress.
    #[must_use]
    pub const fn tool(&self) -> Option<Tool> {
        match self.stroke {
            Some(Stroke::Brush { .. }) => Some(Tool::Brush),
            Some(Stroke::Eraser { .. }) => Some(Tool::Eraser),
            None => None,
        }
    }

    /// Whether there is a stroke or a clear to undo.
    #[must_use]
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Begins a stroke of `tool` at `at` (finishing any stroke in progress); returns the
    /// points it put down (a brush's click) or removed.
    pub fn begin(&mut self, at: [f64; 2], tool: Tool, brush: &Brush) -> usize {
        self.end();
        let brush = brush.sanitised();
        self.capped = false;
        match tool {
            Tool::Brush => {
                let serial = self.strokes;
                self.strokes += 1;
                let mut stroke = Stroke::Brush {
                    brush,
                    serial,
                    last: at,
                    to_next: 1.0 / brush.density,
                    added: 0,
                };
                let n = brush.click_points();
                let added = (0..n).filter(|_| self.put(&mut stroke, at)).count();
                self.stroke = Some(stroke);
                added
            }
            Tool::Eraser => {
                let before = self.points.clone();
                let alive = vec![true; before.len()];
                self.stroke = Some(Stroke::Eraser {
                    radius: brush.eraser,
                    last: at,
                    before,
                    alive,
                });
                self.erase_to(at)
            }
        }
    }

    /// Moves the stroke in progress along to `to`; returns the points put down or
    /// removed (none without a stroke).
    pub fn extend(&mut self, to: [f64; 2]) -> usize {
        match self.stroke {
            Some(Stroke::Brush { .. }) => self.brush_to(to),
            Some(Stroke::Eraser { .. }) => self.erase_to(to),
            None => 0,
        }
    }

    /// Ends the stroke in progress: it becomes one step of the undo stack (a stroke that
    /// changed nothing does not). `None` without a stroke.
    pub fn end(&mut self) -> Option<StrokeDone> {
        let done = match self.stroke.take()? {
            Stroke::Brush { added, .. } => {
                if added > 0 {
                    self.push_edit(Edit::Added(added));
                }
                StrokeDone::Added {
                    points: added,
                    capped: self.capped,
                }
            }
            Stroke::Eraser { before, alive, .. } => {
                let removed: Vec<(usize, [f64; 2])> = before
                    .into_iter()
                    .zip(alive)
                    .enumerate()
                    .filter(|(_, (_, alive))| !alive)
                    .map(|(i, (p, _))| (i, p))
                    .collect();
                let n = removed.len();
                if n > 0 {
                    self.push_edit(Edit::Erased(removed));
                }
                StrokeDone::Erased(n)
            }
        };
        Some(done)
    }

    /// Removes every point (one step of the undo stack); returns how many there were.
    pub fn clear(&mut self) -> usize {
        self.replace(&[])
    }

    /// Replaces the points by `points` (non-finite ones left out, at most
    /// [`MAX_DRAWING_POINTS`]): one step of the undo stack, which brings the old ones
    /// back. Returns how many points were replaced.
    pub fn replace(&mut self, points: &[[f64; 2]]) -> usize {
        self.end();
        let old = std::mem::replace(&mut self.points, sanitised_points(points));
        let n = old.len();
        if n > 0 {
            self.push_edit(Edit::Replaced(old));
        }
        n
    }

    /// Undoes the last stroke or clear (a stroke in progress is finished first); whether
    /// there was one.
    pub fn undo(&mut self) -> bool {
        self.end();
        let Some(edit) = self.undo.pop_back() else {
            return false;
        };
        match edit {
            Edit::Added(n) => self.points.truncate(self.points.len().saturating_sub(n)),
            Edit::Replaced(points) => self.points = points,
            Edit::Erased(removed) => {
                // The points left kept their order: merge the removed ones back at their
                // indices.
                let total = self.points.len() + removed.len();
                let mut kept = std::mem::take(&mut self.points).into_iter();
                let mut removed = removed.into_iter().peekable();
                self.points = (0..total)
                    .filter_map(|i| match removed.peek() {
                        Some(&(j, p)) if j == i => {
                            removed.next();
                            Some(p)
                        }
                        _ => kept.next(),
                    })
                    .collect();
            }
        }
        true
    }

    fn push_edit(&mut self, edit: Edit) {
        if self.undo.len() == UNDO_DEPTH {
            self.undo.pop_front();
        }
        self.undo.push_back(edit);
    }

    /// Puts the stroke's next point down around `centre`; false when the drawing is full.
    fn put(&mut self, stroke: &mut Stroke, centre: [f64; 2]) -> bool {
        let Stroke::Brush {
            brush, serial, added, ..
        } = stroke
        else {
            return false;
        };
        if self.points.len() >= MAX_DRAWING_POINTS {
            self.capped = true;
            return false;
        }
        let k = 2 * *added as u64;
        let stream = STROKE_STREAM_BASE.wrapping_add(*serial);
        let point = [
            quantise(centre[0] + brush.spread * noise::normal(DRAW_SEED, stream, k)),
            quantise(centre[1] + brush.spread * noise::normal(DRAW_SEED, stream, k + 1)),
        ];
        self.points.push(point);
        *added += 1;
        true
    }

    /// The brush along the segment from its last position to `to`: a point every
    /// `1/ρ` of path.
    fn brush_to(&mut self, to: [f64; 2]) -> usize {
        let Some(mut stroke) = self.stroke.take() else {
            return 0;
        };
        let mut put = 0;
        if let Stroke::Brush {
            brush, last, to_next, ..
        } = &stroke
        {
            let (from, step, mut at) = (*last, 1.0 / brush.density, *to_next);
            let length = distance(from, to);
            let mut centres = Vec::new();
            while at <= length {
                let s = at / length;
                centres.push([from[0] + s * (to[0] - from[0]), from[1] + s * (to[1] - from[1])]);
                at += step;
            }
            for centre in centres {
                put += usize::from(self.put(&mut stroke, centre));
            }
            if let Stroke::Brush { last, to_next, .. } = &mut stroke {
                *last = to;
                *to_next = at - length;
            }
        }
        self.stroke = Some(stroke);
        put
    }

    /// The eraser along the segment from its last position to `to`.
    fn erase_to(&mut self, to: [f64; 2]) -> usize {
        let Some(Stroke::Eraser {
            radius,
            last,
            before,
            alive,
        }) = &mut self.stroke
        else {
            return 0;
        };
        let mut removed = 0;
        for (p, alive) in before.iter().zip(alive.iter_mut()) {
            if *alive && segment_distance(*p, *last, to) <= *radius {
                *alive = false;
                removed += 1;
            }
        }
        *last = to;
        if removed > 0 {
            self.points = before
                .iter()
                .zip(alive.iter())
                .filter(|(_, alive)| **alive)
                .map(|(p, _)| *p)
                .collect();
        }
        removed
    }
}

/// The first noise stream of the brush strokes (stroke `n` draws from stream base + n).
const STROKE_STREAM_BASE: u64 = 0x4252_5553_4800_0000;

/// `v` rounded to [`QUANTUM`]: the closest `f64` to a decimal of four places (divided,
/// not multiplied by the quantum, which would print as `1.5993000000000002`).
fn quantise(v: f64) -> f64 {
    (v / QUANTUM).round() / QUANTUM.recip()
}

fn distance(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// The distance from `p` to the segment `a`–`b`.
fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length_sq = dx * dx + dy * dy;
    let s = if length_sq > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length_sq).clamp(0.0, 1.0)
    } else {
        0.0
    };
    distance(p, [a[0] + s * dx, a[1] + s * dy])
}

/// `points` without the non-finite ones, at most [`MAX_DRAWING_POINTS`].
fn sanitised_points(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    points
        .iter()
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .take(MAX_DRAWING_POINTS)
        .copied()
        .collect()
}

/// A drawing's points as the settings keep them: shared (the settings are cloned every
/// frame), compared by value, saved as a list of pairs, shown in `Debug` as a count.
#[derive(Clone, Default)]
pub struct DrawnPoints(Arc<Vec<[f64; 2]>>);

impl DrawnPoints {
    /// `points` (non-finite ones left out, at most [`MAX_DRAWING_POINTS`]).
    #[must_use]
    pub fn new(points: &[[f64; 2]]) -> Self {
        Self(Arc::new(sanitised_points(points)))
    }

    /// The points.
    #[must_use]
    pub fn points(&self) -> &[[f64; 2]] {
        &self.0
    }

    /// The points, shared.
    #[must_use]
    pub fn shared(&self) -> Arc<Vec<[f64; 2]>> {
        self.0.clone()
    }

    /// How many points.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for DrawnPoints {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.len() == other.0.len()
                && self
                    .0
                    .iter()
                    .zip(other.0.iter())
                    .all(|(a, b)| a[0].to_bits() == b[0].to_bits() && a[1].to_bits() == b[1].to_bits()))
    }
}

impl Eq for DrawnPoints {}

impl std::fmt::Debug for DrawnPoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DrawnPoints({} points)", self.0.len())
    }
}

impl Serialize for DrawnPoints {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DrawnPoints {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let points = Vec::<[f64; 2]>::deserialize(deserializer)?;
        Ok(Self::new(&points))
    }
}
