//! Points CSV loading as the window does it: `data::load_points_csv` hands the open file
//! to `data::read_points_csv`, and the scene standardises what it returns.

#![no_main]

use diffscope::data::{MAX_POINTS, read_points_csv, standardise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(mut points) = read_points_csv(bytes, "fuzz.csv") {
        assert!((2..=MAX_POINTS).contains(&points.len()));
        assert!(points.iter().flatten().all(|v| v.is_finite()));
        standardise(&mut points);
        assert!(
            points.iter().flatten().all(|v| v.is_finite()),
            "standardising finite points gave {points:?}"
        );
    }
});
