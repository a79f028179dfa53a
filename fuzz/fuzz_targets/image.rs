//! Image decoding as the window does it: `data::load_image` reads the file and hands its
//! bytes to `data::decode_image` (format sniffing, the header checks, the decoder's
//! memory limit, the reduction to a working size, the map to `[-1, 1]`).

#![no_main]

use diffscope::data::decode_image;
use libfuzzer_sys::fuzz_target;

/// A small working size, so that the reduction runs on most images the fuzzer makes.
const MAX_SIDE: u32 = 64;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(img) = decode_image(bytes, "fuzz", MAX_SIDE) {
        assert!(img.width.max(img.height) <= MAX_SIDE && img.width.min(img.height) >= 1);
        assert!(img.channels == 1 || img.channels == 3);
        assert_eq!(
            img.pixels.len(),
            img.width as usize * img.height as usize * usize::from(img.channels)
        );
        assert!(img.pixels.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
});
