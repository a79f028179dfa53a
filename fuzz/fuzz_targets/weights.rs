//! Weights loading as the window does it: `model::io::load` reads the file and hands its
//! bytes to `model::io::from_bytes` (safetensors, the metadata, every tensor's presence,
//! shape, type and finiteness, the network built from them).

#![no_main]

use diffscope::model::io;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(model) = io::from_bytes(bytes) {
        let params = model.network.params();
        assert!(params.iter().all(|p| p.data.iter().all(|v| v.is_finite())));
        // What loads saves, and loads back the same.
        let again = io::to_bytes(&model).expect("a loaded model saves");
        assert_eq!(io::from_bytes(&again).expect("a saved model loads"), model);
    }
});
