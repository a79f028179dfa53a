//! The data module: toy 2D sets (moments, determinism, shapes), CSV points, images and
//! digits, each against numbers computed independently.
//!
//! Image goldens come from this zlib-only PNG decoder (`python3 pngref.py`, run in the
//! repository root), which shares no code with the `image` crate:
//!
//! ```python
//! import struct, zlib
//! def decode(path):  # 8-bit, non-interlaced, grey or RGB
//!     data = open(path, 'rb').read()
//!     pos, idat = 8, b''
//!     while pos < len(data):
//!         n, kind = struct.unpack('>I4s', data[pos:pos + 8])
//!         body = data[pos + 8:pos + 8 + n]
//!         if kind == b'IHDR': w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
//!         elif kind == b'IDAT': idat += body
//!         pos += 12 + n
//!     c = {0: 1, 2: 3}[ctype]
//!     raw, stride, rows, prev = zlib.decompress(idat), w * c, [], bytearray(w * c)
//!     for y in range(h):
//!         f = raw[y * (stride + 1)]
//!         line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
//!         for i in range(stride):
//!             a = line[i - c] if i >= c else 0
//!             b, d = prev[i], (prev[i - c] if i >= c else 0)
//!             p = a + b - d
//!             pr = a if abs(p-a) <= abs(p-b) and abs(p-a) <= abs(p-d) else (b if abs(p-b) <= abs(p-d) else d)
//!             line[i] = (line[i] + [0, a, b, (a + b) // 2, pr][f]) & 255
//!         rows.append(line); prev = line
//!     return w, h, c, rows
//! for name in ['astronaut', 'camera', 'chelsea']:
//!     w, h, c, rows = decode(f'assets/images/{name}.png')
//!     print(name, w, h, c, list(rows[0][:c]), list(rows[h // 2][(w // 2) * c:(w // 2 + 1) * c]),
//!           sum(sum(r) for r in rows))
//! # astronaut 512 512 3 [154, 147, 151] [19, 14, 7] 90124324
//! # camera 512 512 1 [200] [14] 33832495
//! # chelsea 451 300 3 [143, 120, 104] [190, 150, 124] 46802357
//! ```
//!
//! Digit goldens come from:
//!
//! ```python
//! import gzip, csv, collections
//! rows = list(csv.reader(gzip.open('assets/digits/digits.csv.gz', 'rt')))
//! print([int(v) / 8 - 1 for v in rows[0][:8]], rows[0][64])
//! # [-1.0, -1.0, -0.375, 0.625, 0.125, -0.875, -1.0, -1.0] 0
//! print(sorted(collections.Counter(r[64] for r in rows).items()))
//! # 0:178 1:182 2:177 3:183 4:181 5:182 6:181 7:179 8:174 9:180
//! print(sum(int(v) for r in rows for v in r[:64]))
//! # 561718
//! ```

#![allow(
    clippy::float_cmp,
    reason = "exactness is what these tests check: pixel values rounded once, dyadic sums, \
              bit-identical reruns"
)]

use std::f64::consts::{FRAC_PI_4, PI};
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::PathBuf;

use diffscope::data::{
    BuiltinImage, DEFAULT_MAX_SIDE, DataError, Dataset, ImageData, decode_image, digits, generate,
    generate_raw, load_image, load_points_csv, parse_digits_csv, parse_points_csv, standardise,
};
use image::{GrayAlphaImage, GrayImage, ImageFormat, Luma, LumaA, Rgb, RgbImage, Rgba, RgbaImage};

const N: usize = 2000;

// ---------------------------------------------------------------------------------------
// Helpers

/// Per-coordinate mean and population standard deviation.
fn moments(points: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    let n = points.len() as f64;
    let mut mean = [0.0; 2];
    let mut std = [0.0; 2];
    for c in 0..2 {
        mean[c] = points.iter().map(|p| p[c]).sum::<f64>() / n;
        std[c] = (points.iter().map(|p| (p[c] - mean[c]).powi(2)).sum::<f64>() / n).sqrt();
    }
    (mean, std)
}

/// An angle wrapped to `(-π, π]`.
fn wrap(angle: f64) -> f64 {
    let a = angle.rem_euclid(2.0 * PI);
    if a > PI { a - 2.0 * PI } else { a }
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = values.into_iter().fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    sum / count as f64
}

/// A fresh path under Cargo's per-target temporary directory.
fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("data-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

// ---------------------------------------------------------------------------------------
// Toy 2D sets: moments, determinism, prefix

#[test]
fn every_dataset_is_finite_and_standardised() {
    for dataset in Dataset::ALL {
        let points = generate(dataset, N, 7);
        assert_eq!(points.len(), N, "{dataset}");
        assert!(points.iter().flatten().all(|v| v.is_finite()), "{dataset}");
        let (mean, std) = moments(&points);
        for c in 0..2 {
            assert!(mean[c].abs() < 1e-9, "{dataset} mean[{c}] = {}", mean[c]);
            assert!((std[c] - 1.0).abs() < 1e-9, "{dataset} std[{c}] = {}", std[c]);
        }
    }
}

#[test]
fn same_seed_same_points_other_seed_other_points() {
    for dataset in Dataset::ALL {
        assert_eq!(generate(dataset, N, 3), generate(dataset, N, 3), "{dataset}");
        let a = generate(dataset, N, 3);
        let b = generate(dataset, N, 4);
        let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
        assert_eq!(same, 0, "{dataset}: {same} points unchanged by the seed");
    }
}

#[test]
fn raw_points_are_a_prefix_and_generate_standardises_them() {
    for dataset in Dataset::ALL {
        let short = generate_raw(dataset, 1000, 11);
        let long = generate_raw(dataset, N, 11);
        assert_eq!(short[..], long[..1000], "{dataset}");
        let mut expected = long.clone();
        standardise(&mut expected);
        assert_eq!(generate(dataset, N, 11), expected, "{dataset}");
    }
}

#[test]
fn datasets_use_distinct_noise_streams() {
    // Two moons and circles draw (uniform, normal, normal) in the same slots: with a shared
    // stream the upper moon's angle t = π·u would be half the circle's angle 2π·u, point by
    // point (up to noise of about 0.05 rad). Independent streams match within 0.15 rad for
    // about 0.3/π ≈ 10% of the points.
    let moons = generate_raw(Dataset::TwoMoons, 400, 0);
    let circles = generate_raw(Dataset::Circles, 400, 0);
    let coincide = moons
        .iter()
        .zip(&circles)
        .step_by(2)
        .filter(|(m, c)| {
            let moon_angle = m[1].atan2(m[0]).rem_euclid(2.0 * PI);
            let circle_angle = c[1].atan2(c[0]).rem_euclid(2.0 * PI);
            (moon_angle - circle_angle / 2.0).abs() < 0.15
        })
        .count();
    assert!(coincide < 40, "{coincide} of 200 angles coincide");
}

#[test]
fn tiny_sizes_are_safe() {
    for dataset in Dataset::ALL {
        assert!(generate(dataset, 0, 1).is_empty());
        assert_eq!(generate(dataset, 1, 1), vec![[0.0, 0.0]], "{dataset}");
        let two = generate(dataset, 2, 1);
        for c in 0..2 {
            assert!((two[0][c].abs() - 1.0).abs() < 1e-12, "{dataset} {two:?}");
            assert!((two[0][c] + two[1][c]).abs() < 1e-12, "{dataset} {two:?}");
        }
    }
}

#[test]
fn standardise_only_centres_a_constant_coordinate() {
    let mut points = [[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]];
    standardise(&mut points);
    let s = (8.0_f64 / 3.0).sqrt();
    let expected = [[-2.0 / s, 0.0], [0.0, 0.0], [2.0 / s, 0.0]];
    for (p, e) in points.iter().zip(&expected) {
        assert!((p[0] - e[0]).abs() < 1e-15 && p[1] == e[1], "{points:?}");
    }
    // No points: the defined result is no change and no panic (n = 0 makes the mean 0/0,
    // which must never be read, and there is no first point to index); what this can
    // catch is a panic, so it runs on a Vec whose capacity is not 0, like a cleared buffer.
    let mut empty: Vec<[f64; 2]> = Vec::with_capacity(4);
    standardise(&mut empty);
    assert!(empty.is_empty());
    // One point: both coordinates have standard deviation 0, so it is only centred, to
    // exactly the origin (not 0/0 = NaN); two equal points likewise.
    let mut one = [[3.5, -2.0]];
    standardise(&mut one);
    assert_eq!(one, [[0.0, 0.0]]);
    let mut twins = [[-1e-3, 7.0], [-1e-3, 7.0]];
    standardise(&mut twins);
    assert_eq!(twins, [[0.0, 0.0], [0.0, 0.0]]);
}

#[test]
fn standardise_gives_finite_points_for_points_near_the_largest_float() {
    // Their sum overflowed to infinity, and every point became NaN (found writing the
    // points_csv fuzzer's check).
    let mut points = [[1e308, 1.0], [1.5e308, 2.0], [-1.7e308, 3.0]];
    standardise(&mut points);
    let mut small = [[1.0, 1.0], [1.5, 2.0], [-1.7, 3.0]];
    standardise(&mut small);
    for (p, q) in points.iter().zip(&small) {
        assert!(
            (p[0] - q[0]).abs() < 1e-12 && p[1] == q[1],
            "{points:?} vs {small:?}"
        );
    }
    // A constant coordinate that large is centred to exact zeros.
    let mut constant = [[1e300, 0.0], [1e300, 1.0]];
    standardise(&mut constant);
    assert_eq!(constant, [[0.0, -1.0], [0.0, 1.0]]);
}

#[test]
fn dataset_names_round_trip_and_unknown_names_list_the_valid_ones() {
    let names: Vec<&str> = Dataset::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(
        names,
        [
            "two-moons",
            "swiss-roll",
            "8gaussians",
            "checkerboard",
            "circles",
            "spiral"
        ]
    );
    for dataset in Dataset::ALL {
        assert_eq!(dataset.to_string(), dataset.name());
        assert_eq!(dataset.name().parse::<Dataset>().unwrap(), dataset);
        assert_eq!(dataset.label().parse::<Dataset>().unwrap(), dataset);
        assert_eq!(dataset.name().to_uppercase().parse::<Dataset>().unwrap(), dataset);
    }
    assert_eq!(Dataset::TwoMoons.label(), "two moons");
    assert_eq!(Dataset::EightGaussians.label(), "8 gaussians");
    for (alias, dataset) in [
        ("moons", Dataset::TwoMoons),
        ("Two_Moons", Dataset::TwoMoons),
        ("swiss_roll", Dataset::SwissRoll),
        ("8-gaussians", Dataset::EightGaussians),
        ("8_Gaussians", Dataset::EightGaussians),
    ] {
        assert_eq!(alias.parse::<Dataset>().unwrap(), dataset, "{alias}");
    }
    assert_eq!(
        "foo".parse::<Dataset>().unwrap_err().to_string(),
        "unknown data set 'foo' (valid: two-moons, swiss-roll, 8gaussians, checkerboard, circles, spiral)"
    );
}

// ---------------------------------------------------------------------------------------
// Toy 2D sets: shapes

#[test]
fn two_moons_lie_on_two_opposite_half_circles() {
    // Raw: even points on the unit upper half circle, odd points on the lower half circle
    // centred at (1, 0.5); the radial noise has std 0.05, so 6σ = 0.3.
    let raw = generate_raw(Dataset::TwoMoons, N, 5);
    for (i, p) in raw.iter().enumerate() {
        let (centre, side) = if i % 2 == 0 {
            ([0.0, 0.0], 1.0)
        } else {
            ([1.0, 0.5], -1.0)
        };
        let (dx, dy) = (p[0] - centre[0], p[1] - centre[1]);
        assert!(((dx * dx + dy * dy).sqrt() - 1.0).abs() < 0.3, "point {i} {p:?}");
        assert!(side * dy > -0.3, "point {i} {p:?} on the wrong side of its moon");
    }
    // Standardised: the upper moon is highest in its middle third (by x), the lower moon
    // lowest; the difference is about 0.48 raw ≈ 0.95 standardised.
    let points = generate(Dataset::TwoMoons, N, 5);
    let curvature = |parity: usize| {
        let mut moon: Vec<[f64; 2]> = points.iter().skip(parity).step_by(2).copied().collect();
        moon.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let third = moon.len() / 3;
        let middle = mean(moon[third..2 * third].iter().map(|p| p[1]));
        let outer = mean(moon[..third].iter().chain(&moon[2 * third..]).map(|p| p[1]));
        middle - outer
    };
    assert!(curvature(0) > 0.6, "upper moon curvature {}", curvature(0));
    assert!(curvature(1) < -0.6, "lower moon curvature {}", curvature(1));
    let upper_x = mean(points.iter().step_by(2).map(|p| p[0]));
    let lower_x = mean(points.iter().skip(1).step_by(2).map(|p| p[0]));
    assert!(
        lower_x - upper_x > 0.8,
        "moons not side by side: {upper_x} {lower_x}"
    );
}

#[test]
fn swiss_roll_follows_its_spiral() {
    // Raw point (t cos t, t sin t) + noise (std 0.25), t ∈ [1.5π, 4.5π]: its radius is t and
    // its angle is t mod 2π, so angle − radius ≈ noise (mean |·| ≈ 0.21) and not uniform
    // (mean |·| = π/2).
    let raw = generate_raw(Dataset::SwissRoll, N, 9);
    let mut residuals = Vec::new();
    for p in &raw {
        let r = p[0].hypot(p[1]);
        assert!((1.5 * PI - 1.5..4.5 * PI + 1.5).contains(&r), "{p:?}");
        residuals.push(wrap(p[1].atan2(p[0]) - r).abs());
    }
    let m = mean(residuals);
    assert!((0.1..0.3).contains(&m), "mean |angle − radius| = {m}");
    // Both ends of the roll are reached.
    let radii: Vec<f64> = raw.iter().map(|p| p[0].hypot(p[1])).collect();
    assert!(radii.iter().any(|&r| r < 1.5 * PI + 0.5) && radii.iter().any(|&r| r > 4.5 * PI - 0.5));
}

#[test]
fn eight_gaussians_are_eight_tight_clusters_45_degrees_apart() {
    // Raw: point i is N(c_k, 0.04²·I) with c_k at radius 2, angle k·45°, k = i mod 8.
    let raw = generate_raw(Dataset::EightGaussians, N, 2);
    let mut squared = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let angle = (i % 8) as f64 * FRAC_PI_4;
        let d2 = (p[0] - 2.0 * angle.cos()).powi(2) + (p[1] - 2.0 * angle.sin()).powi(2);
        assert!(d2.sqrt() < 6.0 * 0.04, "point {i} {p:?}");
        squared.push(d2);
    }
    // E[d²] = 2σ² = 0.0032; the standard error of the mean over 2000 points is 0.0032/√2000.
    let msd = mean(squared);
    assert!(
        (msd - 0.0032).abs() < 5.0 * 0.0032 / (N as f64).sqrt(),
        "mean d² = {msd}"
    );
    // Standardised (σx = σy, mean 0): angles still sit on multiples of 45°, 250 per cluster.
    let points = generate(Dataset::EightGaussians, N, 2);
    let mut counts = [0; 8];
    for p in &points {
        let angle = p[1].atan2(p[0]);
        let k = (angle / FRAC_PI_4).round();
        assert!((angle - k * FRAC_PI_4).abs() < 0.1, "{p:?}");
        counts[(k as i64).rem_euclid(8) as usize] += 1;
    }
    assert_eq!(counts, [N / 8; 8]);
}

#[test]
fn checkerboard_fills_only_alternating_squares() {
    // Raw: a 4×4 board of side-2 cells on [−4, 4)², cell (⌊x/2⌋, ⌊y/2⌋) filled when the
    // sum is even: 8 cells, each with probability 1/8 (250 ± 14.8 of 2000).
    let raw = generate_raw(Dataset::Checkerboard, N, 4);
    let mut counts = std::collections::HashMap::new();
    for p in &raw {
        assert!(p.iter().all(|v| (-4.0..4.0).contains(v)), "{p:?}");
        let cell = ((p[0] / 2.0).floor() as i64, (p[1] / 2.0).floor() as i64);
        assert_eq!((cell.0 + cell.1).rem_euclid(2), 0, "{p:?} in a white cell");
        *counts.entry(cell).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 8);
    for (cell, count) in counts {
        assert!((175..=325).contains(&count), "cell {cell:?}: {count}");
    }
}

#[test]
fn circles_have_two_radii_in_ratio_one_half() {
    // Raw: even points on radius 1, odd on radius 0.5, noise std 0.03 (6σ = 0.18).
    let raw = generate_raw(Dataset::Circles, N, 6);
    for (i, p) in raw.iter().enumerate() {
        let radius = if i % 2 == 0 { 1.0 } else { 0.5 };
        assert!((p[0].hypot(p[1]) - radius).abs() < 0.18, "point {i} {p:?}");
    }
    // Standardised, without labels: radii split at the midpoint into two equal groups.
    let points = generate(Dataset::Circles, N, 6);
    let radii: Vec<f64> = points.iter().map(|p| p[0].hypot(p[1])).collect();
    let (lo, hi) = radii
        .iter()
        .fold((f64::MAX, 0.0_f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let split = f64::midpoint(lo, hi);
    let inner: Vec<f64> = radii.iter().copied().filter(|&r| r < split).collect();
    let outer: Vec<f64> = radii.iter().copied().filter(|&r| r >= split).collect();
    assert_eq!(inner.len(), N / 2);
    let ratio = mean(inner) / mean(outer);
    assert!((ratio - 0.5).abs() < 0.01, "radius ratio {ratio}");
}

#[test]
fn spiral_has_two_opposite_arms() {
    // Raw arm 0 (even i) is θ(−cos θ, sin θ): angle π − θ at radius θ; arm 1 is its mirror
    // through the origin: angle −θ. Noise std 0.3: mean |residual| ≈ 0.26 beyond r = 2,
    // while the other arm would give π.
    let raw = generate_raw(Dataset::Spiral, N, 8);
    let (mut own, mut other) = (Vec::new(), Vec::new());
    for (i, p) in raw.iter().enumerate() {
        let (r, angle) = (p[0].hypot(p[1]), p[1].atan2(p[0]));
        assert!(r < 3.0 * PI + 1.8, "{p:?}");
        if r > 2.0 {
            let arm0 = wrap(angle - (PI - r)).abs();
            let arm1 = wrap(angle + r).abs();
            let (mine, theirs) = if i % 2 == 0 { (arm0, arm1) } else { (arm1, arm0) };
            own.push(mine);
            other.push(theirs);
        }
    }
    assert!(own.len() > N * 3 / 4, "{} points beyond r = 2", own.len());
    let (own, other) = (mean(own), mean(other));
    assert!(own < 0.35, "mean |residual| on own arm {own}");
    assert!(other > 2.5, "mean |residual| on the other arm {other}");
}

// ---------------------------------------------------------------------------------------
// Points CSV

fn csv_err(text: &str) -> String {
    parse_points_csv(text, "points.csv").unwrap_err().to_string()
}

#[test]
fn csv_with_and_without_header() {
    let expected = vec![[1.0, 2.0], [3.5, -4e-3]];
    assert_eq!(
        parse_points_csv("x,y\n1,2\n3.5,-4e-3\n", "p.csv").unwrap(),
        expected
    );
    assert_eq!(parse_points_csv("1,2\n3.5,-4e-3", "p.csv").unwrap(), expected);
    assert_eq!(
        parse_points_csv("\"x\",\"y\"\n1,2\n3.5,-4e-3", "p.csv").unwrap(),
        expected
    );
}

#[test]
fn csv_tolerates_whitespace_crlf_bom_blank_lines_quotes_and_other_separators() {
    let text = "\u{feff} x , y \r\n\r\n  1.5 ,  -2 \r\n\"3\", \" 4e1 \"\r\n   \r\n5;6\r\n7\t8\r\n+9 -10\r\n";
    assert_eq!(
        parse_points_csv(text, "p.csv").unwrap(),
        vec![[1.5, -2.0], [3.0, 40.0], [5.0, 6.0], [7.0, 8.0], [9.0, -10.0]]
    );
}

#[test]
fn csv_errors_name_the_file_the_line_and_the_field() {
    assert_eq!(
        csv_err("x,y\n1,2\n3,abc\n"),
        "points.csv line 3: field 2 'abc' is not a number"
    );
    assert_eq!(csv_err("1,2\n\n\nnan,3\n"), "points.csv line 4: field 1 is NaN");
    assert_eq!(
        csv_err("1,2\r\n3,-inf\r\n"),
        "points.csv line 2: field 2 is infinite"
    );
    assert_eq!(
        csv_err("1,2\n3,4\n5,6,7\n"),
        "points.csv line 3: expected 2 fields, found 3"
    );
    assert_eq!(
        csv_err("1;2\n3\n"),
        "points.csv line 2: expected 2 fields, found 1"
    );
    assert_eq!(
        csv_err("1,2\n3,\n"),
        "points.csv line 2: field 2 '' is not a number"
    );
    assert_eq!(
        csv_err("1,2\nx,y\n"),
        "points.csv line 2: field 1 'x' is not a number"
    );
    assert_eq!(csv_err(""), "points.csv: no data rows");
    assert_eq!(csv_err("\u{feff}\n  \r\n"), "points.csv: no data rows");
    assert_eq!(csv_err("x,y\n"), "points.csv: no data rows");
    assert_eq!(
        csv_err("x,y\n1,2\n"),
        "points.csv: needs at least 2 points, found 1"
    );
}

#[test]
fn csv_beyond_the_point_and_line_limits_is_refused_at_its_line() {
    use diffscope::data::{MAX_LINE_BYTES, MAX_POINTS};
    let rows = |n: usize| {
        (0..n).fold(String::new(), |mut rows, i| {
            writeln!(rows, "{i},1").unwrap();
            rows
        })
    };
    assert_eq!(
        parse_points_csv(&format!("x,y\n{}", rows(MAX_POINTS)), "p.csv")
            .unwrap()
            .len(),
        MAX_POINTS
    );
    assert_eq!(
        csv_err(&format!("x,y\n{}", rows(MAX_POINTS + 1))),
        format!(
            "points.csv line {}: more than {MAX_POINTS} points (diffscope takes at most {MAX_POINTS})",
            MAX_POINTS + 2
        )
    );
    // A line of exactly MAX_LINE_BYTES is read; one byte more is refused, with or
    // without a newline after it.
    let at_limit = format!("1,{}\n2,3\n", "0".repeat(MAX_LINE_BYTES - 2));
    assert_eq!(
        parse_points_csv(&at_limit, "p.csv").unwrap(),
        vec![[1.0, 0.0], [2.0, 3.0]]
    );
    let over = "0".repeat(MAX_LINE_BYTES - 1);
    for text in [format!("1,{over}\n2,3\n"), format!("2,3\n1,{over}")] {
        let line = if text.starts_with('1') { 1 } else { 2 };
        assert_eq!(
            csv_err(&text),
            format!("points.csv line {line}: longer than {MAX_LINE_BYTES} bytes (a row is two numbers)")
        );
    }
}

#[test]
fn load_points_csv_reads_a_file_and_reports_io_and_encoding_errors() {
    let path = temp_path("points-ok.csv");
    std::fs::write(&path, "x,y\r\n0.25,1\r\n-3,2e2\r\n").unwrap();
    assert_eq!(load_points_csv(&path).unwrap(), vec![[0.25, 1.0], [-3.0, 200.0]]);

    let bad = temp_path("points-latin1.csv");
    std::fs::write(&bad, b"x,y\n1,2\n3,4\xff\n").unwrap();
    assert_eq!(
        load_points_csv(&bad).unwrap_err().to_string(),
        format!("{} line 3: not UTF-8 text (invalid byte 0xFF)", bad.display())
    );

    let missing = temp_path("no-such-points.csv");
    let message = load_points_csv(&missing).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("cannot read points file '{}': ", missing.display())),
        "{message}"
    );
    assert!(message.contains("(os error 2)"), "{message}");
}

// ---------------------------------------------------------------------------------------
// Images

/// The encoded bytes of an 8-bit image in `format`.
fn encoded<P, C>(image: &image::ImageBuffer<P, C>, format: ImageFormat) -> Vec<u8>
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
    C: std::ops::Deref<Target = [P::Subpixel]>,
{
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// Sum of the 8-bit values an image's pixels map back to.
fn byte_sum(image: &ImageData) -> u64 {
    image
        .pixels
        .iter()
        .map(|&x| (255.0 * (f64::from(x) + 1.0) / 2.0).round() as u64)
        .sum()
}

/// The 8-bit values of pixel `(x, y)`.
fn pixel_bytes(image: &ImageData, x: u32, y: u32) -> Vec<u8> {
    let c = usize::from(image.channels);
    let first = (y as usize * image.width as usize + x as usize) * c;
    image.pixels[first..first + c]
        .iter()
        .map(|&v| (255.0 * (f64::from(v) + 1.0) / 2.0).round() as u8)
        .collect()
}

/// `x = 2·v/255 − 1`, rounded once to `f32`.
fn unit(v: u8) -> f32 {
    (2.0 * f64::from(v) / 255.0 - 1.0) as f32
}

/// A PNG chunk: length, type, body, CRC-32 of type and body.
fn png_chunk(kind: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(&kind);
    crc.update(body);
    let mut chunk = (body.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&kind);
    chunk.extend_from_slice(body);
    chunk.extend_from_slice(&crc.sum().to_be_bytes());
    chunk
}

/// A PNG signature and an IHDR (8-bit RGB) declaring `width × height`, nothing else.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bytes = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    bytes.extend(png_chunk(*b"IHDR", &ihdr));
    bytes
}

#[test]
fn builtin_images_have_their_sizes_and_channels() {
    for (image, size, channels) in [
        (BuiltinImage::Astronaut, (512, 512), 3),
        (BuiltinImage::Camera, (512, 512), 1),
        (BuiltinImage::Cat, (451, 300), 3),
    ] {
        let data = image.load(DEFAULT_MAX_SIDE).unwrap();
        assert_eq!(
            (data.width, data.height, data.channels),
            (size.0, size.1, channels)
        );
        assert_eq!(data.source_size, size);
        assert_eq!(data.len(), (size.0 * size.1) as usize * usize::from(channels));
        assert!(!data.is_empty() && !data.was_reduced());
        assert!(data.pixels.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
}

#[test]
fn builtin_images_match_an_independent_png_decoder() {
    for (image, first, centre, sum) in [
        (
            BuiltinImage::Astronaut,
            vec![154, 147, 151],
            vec![19, 14, 7],
            90_124_324,
        ),
        (BuiltinImage::Camera, vec![200], vec![14], 33_832_495),
        (
            BuiltinImage::Cat,
            vec![143, 120, 104],
            vec![190, 150, 124],
            46_802_357,
        ),
    ] {
        let data = image.load(DEFAULT_MAX_SIDE).unwrap();
        assert_eq!(pixel_bytes(&data, 0, 0), first, "{image}");
        assert_eq!(
            pixel_bytes(&data, data.width / 2, data.height / 2),
            centre,
            "{image}"
        );
        assert_eq!(byte_sum(&data), sum, "{image}");
        // to_rgb8 maps back exactly, replicating grey.
        let rgb = data.to_rgb8();
        let rgb_sum: u64 = rgb.as_raw().iter().map(|&v| u64::from(v)).sum();
        assert_eq!(rgb_sum, if data.channels == 1 { 3 * sum } else { sum }, "{image}");
    }
}

#[test]
fn images_are_reduced_to_the_maximum_side_keeping_the_aspect_ratio() {
    let astronaut = BuiltinImage::Astronaut.load(128).unwrap();
    assert_eq!(
        (astronaut.width, astronaut.height, astronaut.channels),
        (128, 128, 3)
    );
    assert_eq!(astronaut.source_size, (512, 512));
    assert!(astronaut.was_reduced());
    assert_eq!(astronaut.len(), 128 * 128 * 3);
    // 300·100/451 = 66.5 → 67.
    let cat = BuiltinImage::Cat.load(100).unwrap();
    assert_eq!((cat.width, cat.height), (100, 67));
    // A triangle filter averages: the mean brightness hardly moves (in 8-bit units).
    let full = BuiltinImage::Astronaut.load(512).unwrap();
    let mean_full = byte_sum(&full) as f64 / full.len() as f64;
    let mean_small = byte_sum(&astronaut) as f64 / astronaut.len() as f64;
    assert!(
        (mean_full - mean_small).abs() < 0.5,
        "{mean_full} vs {mean_small}"
    );
    // Never enlarged.
    let camera = BuiltinImage::Camera.load(4096).unwrap();
    assert_eq!((camera.width, camera.height), (512, 512));
}

#[test]
fn builtin_image_names_round_trip() {
    for image in BuiltinImage::ALL {
        assert_eq!(image.name().parse::<BuiltinImage>().unwrap(), image);
        assert_eq!(image.to_string(), image.name());
        assert!(!image.bytes().is_empty());
    }
    assert_eq!("Chelsea".parse::<BuiltinImage>().unwrap(), BuiltinImage::Cat);
    assert_eq!(
        "dog".parse::<BuiltinImage>().unwrap_err().to_string(),
        "unknown built-in image 'dog' (valid: astronaut, camera, cat)"
    );
}

#[test]
fn pixels_map_to_minus_one_one_exactly() {
    let rgb = RgbImage::from_raw(2, 1, vec![0, 255, 51, 128, 1, 254]).unwrap();
    let data = decode_image(&encoded(&rgb, ImageFormat::Png), "tiny.png", 512).unwrap();
    assert_eq!((data.width, data.height, data.channels), (2, 1, 3));
    assert_eq!(data.pixels[..3], [-1.0, 1.0, unit(51)]);
    assert!((data.pixels[2] + 0.6).abs() < 1e-7);
    assert_eq!(data.pixels[3..], [unit(128), unit(1), unit(254)]);
    assert_eq!(data.to_rgb8().as_raw(), rgb.as_raw());

    // Every grey value survives the round trip, and grey stays one channel.
    let grey = GrayImage::from_fn(16, 16, |x, y| Luma([(16 * y + x) as u8]));
    let data = decode_image(&encoded(&grey, ImageFormat::Png), "grey.png", 512).unwrap();
    assert_eq!(data.channels, 1);
    for v in 0..=255u8 {
        assert_eq!(data.pixels[usize::from(v)], unit(v));
    }
    let back = data.to_rgb8();
    for (i, p) in back.pixels().enumerate() {
        assert_eq!(p.0, [i as u8; 3]);
    }
}

#[test]
fn alpha_is_composited_on_black() {
    let rgba =
        RgbaImage::from_raw(3, 1, vec![200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128]).unwrap();
    let data = decode_image(&encoded(&rgba, ImageFormat::Png), "rgba.png", 512).unwrap();
    assert_eq!(data.channels, 3);
    // round(v·128/255): 100.4 → 100, 50.2 → 50, 25.1 → 25.
    let expected = [200, 100, 50, 0, 0, 0, 100, 50, 25].map(unit);
    assert_eq!(data.pixels, expected);

    let la = GrayAlphaImage::from_raw(2, 1, vec![90, 255, 90, 85]).unwrap();
    let data = decode_image(&encoded(&la, ImageFormat::Png), "la.png", 512).unwrap();
    assert_eq!(data.channels, 1);
    assert_eq!(data.pixels, [unit(90), unit(30)]);
}

#[test]
fn format_comes_from_the_content_not_the_name() {
    let rgb = RgbImage::from_fn(10, 6, |x, y| Rgb([(20 * x) as u8, (40 * y) as u8, 7]));
    for format in [ImageFormat::Bmp, ImageFormat::Gif, ImageFormat::Png] {
        let path = temp_path(&format!("misnamed-{format:?}.jpg"));
        std::fs::write(&path, encoded(&rgb, format)).unwrap();
        let data = load_image(&path, 512).unwrap();
        assert_eq!((data.width, data.height, data.channels), (10, 6, 3), "{format:?}");
        if format != ImageFormat::Gif {
            // BMP and PNG are lossless; GIF quantises to a palette.
            assert_eq!(data.to_rgb8().as_raw(), rgb.as_raw(), "{format:?}");
        }
    }
    let jpeg = encoded(
        &RgbImage::from_pixel(16, 8, Rgb([120, 60, 30])),
        ImageFormat::Jpeg,
    );
    let data = decode_image(&jpeg, "photo.png", 512).unwrap();
    assert_eq!((data.width, data.height, data.channels), (16, 8, 3));
    let grey_jpeg = encoded(&GrayImage::from_pixel(8, 8, Luma([77])), ImageFormat::Jpeg);
    assert_eq!(decode_image(&grey_jpeg, "g.jpg", 512).unwrap().channels, 1);
    let la = encoded(
        &image::ImageBuffer::<LumaA<u8>, _>::from_pixel(9, 9, LumaA([1, 2])),
        ImageFormat::Png,
    );
    assert_eq!(decode_image(&la, "la.png", 8).unwrap().width, 8);
    let rgba = encoded(&RgbaImage::from_pixel(2, 2, Rgba([9, 9, 9, 9])), ImageFormat::Png);
    assert_eq!(decode_image(&rgba, "a.png", 8).unwrap().channels, 3);
}

#[test]
fn image_errors_name_the_file_and_say_why() {
    let empty = temp_path("empty.png");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        load_image(&empty, 512).unwrap_err().to_string(),
        format!("cannot read image '{}': file is empty", empty.display())
    );

    // Bytes from a fixed LCG: no image signature.
    let mut state = 12_345_u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (state >> 56) as u8
        })
        .collect();
    assert_eq!(
        decode_image(&random, "random.bin", 512).unwrap_err().to_string(),
        "cannot read image 'random.bin': not a supported image (PNG, JPEG, GIF, BMP, WebP)"
    );

    let astronaut = BuiltinImage::Astronaut.bytes();
    let half = &astronaut[..astronaut.len() / 2];
    assert_eq!(
        decode_image(half, "half.png", 512).unwrap_err().to_string(),
        "cannot read image 'half.png': the file is truncated (unexpected end of data)"
    );
    // Even the header alone, with nothing after it.
    assert_eq!(
        decode_image(&png_header_only(64, 64), "header.png", 512)
            .unwrap_err()
            .to_string(),
        "cannot read image 'header.png': the file is truncated (unexpected end of data)"
    );
    // A flipped byte in the pixel data: the decoder's own message, on one line.
    let mut corrupt = astronaut.to_vec();
    corrupt[astronaut.len() / 2] ^= 0xFF;
    let message = decode_image(&corrupt, "corrupt.png", 512)
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot read image 'corrupt.png': "),
        "{message}"
    );
    assert!(message.contains("CRC error"), "{message}");
    assert!(!message.contains('\n'), "{message}");

    assert_eq!(
        decode_image(&png_header_only(100_000, 100_000), "huge.png", 512)
            .unwrap_err()
            .to_string(),
        "cannot read image 'huge.png': 100000×100000 pixels exceeds the 16384×16384 limit"
    );
    assert_eq!(
        decode_image(&png_header_only(20_000, 3), "wide.png", 512)
            .unwrap_err()
            .to_string(),
        "cannot read image 'wide.png': 20000×3 pixels exceeds the 16384×16384 limit"
    );

    let missing = temp_path("no-such-image.png");
    let message = load_image(&missing, 512).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("cannot read image '{}': ", missing.display())),
        "{message}"
    );
    assert!(message.contains("(os error 2)"), "{message}");

    assert_eq!(
        BuiltinImage::Camera.load(4).unwrap_err().to_string(),
        "maximum image side must be at least 8 pixels, got 4"
    );
}

#[test]
fn a_png_header_declaring_more_pixels_than_its_bytes_can_hold_is_refused() {
    // 16384×16384 RGB is within the size limit, but 33 bytes cannot inflate to 805 MB.
    assert_eq!(
        decode_image(&png_header_only(16_384, 16_384), "lying.png", 512)
            .unwrap_err()
            .to_string(),
        "cannot read image 'lying.png': the file is truncated: its 33 bytes cannot hold the \
         16384×16384 pixels its header declares"
    );
    // Deflate expands at most 1032 times, and a file near that ratio still decodes:
    // 4096×4096 grey zeros, compressed as hard as zlib can.
    let (side, row) = (4096u32, 4097usize);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &vec![0u8; row * side as usize]).unwrap();
    let mut ihdr = side.to_be_bytes().to_vec();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    png.extend(png_chunk(*b"IHDR", &ihdr));
    png.extend(png_chunk(*b"IDAT", &z.finish().unwrap()));
    png.extend(png_chunk(*b"IEND", &[]));
    let ratio = (row * side as usize) as f64 / png.len() as f64;
    assert!(ratio > 900.0, "compression ratio {ratio:.0}");
    let img = decode_image(&png, "zeros.png", 512).unwrap();
    assert_eq!((img.source_size, img.channels), ((side, side), 1));
}

#[test]
fn the_memory_limit_counts_the_reduction_too() {
    // Found by the image fuzzer: 35 bytes that decode to a 16384×16384 RGBA canvas. The
    // image (1 GiB) was within the limit, but a copy of it and its composite on black
    // were not counted: loading it took 2.9 GB. Now the header's numbers are refused.
    let gif = b"GIF89a\x00\x40\x00\x40\x80\x00\x00\x00\x00\x00\xff\xff\xff\x2c\x00\x01\x00\x00\x00\
                \x40\x00\x00\x40\x02\xfe\xb5\x01\x00\x3b";
    assert_eq!(
        decode_image(gif, "canvas.gif", 512).unwrap_err().to_string(),
        "cannot read image 'canvas.gif': decoding needs more memory than the 1 GiB limit"
    );
    // A large RGBA image within the limit (64 MB, its composite, the resampling) loads.
    let big = RgbaImage::from_fn(4000, 4000, |x, _| Rgba([(x % 256) as u8, 0, 0, 255]));
    let img = decode_image(&encoded(&big, ImageFormat::Png), "big.png", 512).unwrap();
    assert_eq!((img.width, img.height, img.source_size), (512, 512, (4000, 4000)));
}

#[test]
fn a_cut_jpeg_is_refused_and_a_whole_one_with_bytes_after_it_is_not() {
    let img = RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, 100]));
    let jpeg = encoded(&img, ImageFormat::Jpeg);
    assert_eq!(
        decode_image(&jpeg, "whole.jpg", 512).unwrap().source_size,
        (40, 30)
    );
    let mut trailing = jpeg.clone();
    trailing.extend(b"bytes some programs append");
    assert_eq!(
        decode_image(&trailing, "more.jpg", 512).unwrap().source_size,
        (40, 30)
    );
    // The decoder fills a cut scan with grey and says nothing; diffscope says so.
    let scan = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    for cut in [scan + 20, jpeg.len() / 2 + scan / 2, jpeg.len() - 2] {
        assert_eq!(
            decode_image(&jpeg[..cut], "cut.jpg", 512)
                .unwrap_err()
                .to_string(),
            "cannot read image 'cut.jpg': the file is truncated (it ends before the JPEG's \
             end-of-image marker)",
            "cut at {cut} of {}",
            jpeg.len()
        );
    }
}

#[test]
fn a_bmp_header_claiming_a_huge_image_is_refused_before_decoding() {
    // BITMAPFILEHEADER + BITMAPINFOHEADER, 24-bit, 20000×20000, and no pixel data.
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(54_u32 + 1_200_000_000).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54_u32.to_le_bytes());
    bmp.extend_from_slice(&40_u32.to_le_bytes());
    bmp.extend_from_slice(&20_000_i32.to_le_bytes());
    bmp.extend_from_slice(&20_000_i32.to_le_bytes());
    bmp.extend_from_slice(&1_u16.to_le_bytes());
    bmp.extend_from_slice(&24_u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    assert_eq!(
        decode_image(&bmp, "huge.bmp", 512).unwrap_err().to_string(),
        "cannot read image 'huge.bmp': 20000×20000 pixels exceeds the 16384×16384 limit"
    );
}

// ---------------------------------------------------------------------------------------
// Digits

#[test]
fn digits_are_the_1797_uci_images() {
    let digits = digits().unwrap();
    assert_eq!(digits.images.len(), 1797);
    assert_eq!(digits.labels.len(), 1797);
    let mut counts = [0; 10];
    for &label in &digits.labels {
        counts[usize::from(label)] += 1;
    }
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert!(digits.images.iter().flatten().all(|x| (-1.0..=1.0).contains(x)));
    assert_eq!(
        digits.images[0][..8],
        [-1.0, -1.0, -0.375, 0.625, 0.125, -0.875, -1.0, -1.0]
    );
    assert_eq!(digits.labels[0], 0);
    // Σ x = Σ v/8 − 1797·64 = 561718/8 − 115008 (every term a multiple of 1/8: exact).
    let sum: f64 = digits.images.iter().flatten().map(|&x| f64::from(x)).sum();
    assert_eq!(sum, 561_718.0 / 8.0 - 115_008.0);
}

#[test]
fn digits_csv_errors_give_the_line() {
    let row = |values: &str, label: &str| format!("{values},{label}\n");
    let good: String = vec!["0"; 64].join(",");
    let parsed = parse_digits_csv(&(row(&good, "3") + "\n" + &row(&good, "9")), "d.csv").unwrap();
    assert_eq!(parsed.labels, [3, 9]);
    assert_eq!(parsed.images[1], [-1.0; 64]);

    let short: String = vec!["0"; 63].join(",");
    let err = |text: String| parse_digits_csv(&text, "d.csv").unwrap_err().to_string();
    assert_eq!(
        err(row(&good, "1") + &row(&short, "1")),
        "d.csv line 2: expected 65 fields, found 64"
    );
    let bad_value = format!("17,{}", vec!["0"; 63].join(","));
    assert_eq!(
        err(row(&good, "1") + "\n" + &row(&bad_value, "1")),
        "d.csv line 3: field 1 '17' is not an integer from 0 to 16"
    );
    assert_eq!(
        err(row(&good, "x")),
        "d.csv line 1: label 'x' is not a digit from 0 to 9"
    );
    assert_eq!(err(String::new()), "d.csv: no data rows");
}

#[test]
fn errors_are_one_line() {
    let errors: Vec<DataError> = vec![
        "?".parse::<Dataset>().unwrap_err(),
        parse_points_csv("", "p.csv").unwrap_err(),
        decode_image(&[], "e.png", 512).unwrap_err(),
    ];
    for e in errors {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

/// A 1,000,000-row points CSV (the issue-19 size class: files up to 5,000,000 rows) loads
/// as the window loads it: every point read and standardised, at most 48 MB held at
/// once by the loader under the counting allocator (16 MB of points; the vector doubling
/// as it grows and its trim, each counted as a copy), the progress reaching the end, and
/// the views given a uniform subsample of the default 20,000: the rows run in order of
/// `x`, so the first 20,000 rows would have mean x ≈ −1.7 where a uniform draw has 0 ±
/// 0.02 and half of its points in each half of the file. Training gets every point.
#[test]
fn a_million_point_csv_loads_in_bounded_memory_and_shows_a_uniform_subsample() {
    use std::io::Write as _;

    use diffscope::scene::{self, DEFAULT_POINTS_SHOWN, LoadProgress, SceneData, SceneOptions, SourceChoice};

    const ROWS: usize = 1_000_000;
    let dir = std::env::temp_dir().join(format!("diffscope-million-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("million.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "x,y").unwrap();
    for i in 0..ROWS {
        writeln!(out, "{},{}", i as f64 / ROWS as f64, (i % 7) as f64).unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
    let options = SceneOptions {
        max_side: 512,
        n_points: 0,
        data_seed: 0,
        drawing: diffscope::data::drawing::DrawnPoints::default(),
        points_shown: DEFAULT_POINTS_SHOWN,
    };
    let progress = LoadProgress::default();
    let (scene, seen) = crate::largest_alloc::watch(|| {
        scene::load_with(&SourceChoice::File(path.clone()), &options, &progress)
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let scene = scene.unwrap();
    assert!(seen.peak <= 48 << 20, "{seen:?}");
    assert!(progress.fraction().unwrap() > 0.9, "{:?}", progress.fraction());
    let all = scene.all_points.as_ref().expect("more points than shown");
    assert_eq!(all.len(), ROWS);
    let mean_x = all.iter().map(|p| p[0]).sum::<f64>() / ROWS as f64;
    let var_x = all.iter().map(|p| p[0] * p[0]).sum::<f64>() / ROWS as f64;
    assert!(
        mean_x.abs() < 1e-9 && (var_x - 1.0).abs() < 1e-9,
        "standardised: {mean_x} {var_x}"
    );
    let SceneData::Points(shown) = &scene.data else {
        panic!("points")
    };
    assert_eq!(shown.len(), DEFAULT_POINTS_SHOWN);
    let mean = shown.iter().map(|p| p[0]).sum::<f64>() / shown.len() as f64;
    assert!(mean.abs() < 0.03, "shown mean x {mean}");
    let first_half = shown.iter().filter(|p| p[0] < 0.0).count() as f64 / shown.len() as f64;
    assert!((first_half - 0.5).abs() < 0.015, "{first_half} in the first half");
    assert!(
        shown.windows(2).all(|w| w[0][0] < w[1][0]),
        "in the file's order, no repeats"
    );
    assert_eq!(
        scene.describe(),
        format!("{DEFAULT_POINTS_SHOWN} of {ROWS} points shown")
    );
    // Shown again with 5,000: a new subsample of the points read, the same points behind it.
    let fewer = scene.showing(5000).unwrap();
    assert_eq!(fewer.all_points.as_ref().map(|p| p.len()), Some(ROWS));
    assert!(matches!(&fewer.data, SceneData::Points(p) if p.len() == 5000));
    let (set, _) = scene::prepare::train_set(&scene, 1).unwrap();
    assert_eq!(
        set.train.len() + set.held_out.len(),
        2 * ROWS,
        "training uses every point"
    );
}
