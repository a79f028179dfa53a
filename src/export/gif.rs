//! Animated GIFs of the forward or reverse chain.
//!
//! Quantising a frame to 256 colours and compressing it costs tens of milliseconds at
//! 512×512, and `GifEncoder` does it one frame after another. So each frame is encoded on
//! its own, in parallel (rayon), as a complete one-frame GIF in memory; the file is then
//! the first of those GIFs' header (screen descriptor, colour table, loop block) followed
//! by every one's frame blocks (control extension, image descriptor, local palette, LZW
//! data) and one trailer. The split is found by parsing the GIF block structure
//! (the `GIF89a` specification, sections 17–26), not assumed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use image::codecs::gif::{GifEncoder, Repeat};
use image::error::{EncodingError, ImageFormatHint};
use image::{Delay, Frame, ImageError, ImageFormat, RgbImage, RgbaImage};
use rayon::prelude::*;

use super::{ExportError, PartialFile};

/// `NeuQuant` sampling factor for frames of more than 256 colours: 1 is best and slowest,
/// 30 fastest; 10 is the quantiser's own recommended trade-off.
const QUANTIZER_SPEED: i32 = 10;

/// Frames encoded in parallel per rayon thread before they are written and reported.
const FRAMES_PER_THREAD: usize = 2;

/// The GIF trailer byte, which ends the file.
const TRAILER: u8 = 0x3B;

/// Writes `frames` to `path` as an animated GIF that loops forever, `delay_ms` per frame
/// (rounded to the GIF's resolution of 10 ms; browsers show delays under 20 ms slower),
/// and returns the number of frames written.
///
/// Frames are pulled from the iterator a small batch at a time (two per rayon thread)
/// and encoded in parallel, so a caller can stream them without holding them all. A
/// frame with at most 256 colours is stored exactly; one with more is quantised to 256
/// (`NeuQuant`). After each frame is written, `progress` is called with the number of
/// frames written so far; if it returns `false`, writing stops with
/// [`ExportError::Cancelled`]. On any error, including a frame whose size differs from
/// the first frame's, or no frames at all, the partial file is removed.
pub fn write_gif(
    frames: impl IntoIterator<Item = RgbImage>,
    delay_ms: u32,
    path: &Path,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<usize, ExportError> {
    let io_error = |reason| ExportError::Io {
        path: path.to_owned(),
        reason,
    };
    // Declared first so it is dropped last, after the file is closed.
    let mut partial = PartialFile::new(path);
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_error)?);
    partial.created();
    let delay = Delay::from_numer_denom_ms(delay_ms.saturating_add(5) / 10 * 10, 1);
    let batch_len = FRAMES_PER_THREAD * rayon::current_num_threads().max(1);
    let mut frames = frames.into_iter();
    let mut size = None;
    let mut head: Option<Vec<u8>> = None;
    let mut written = 0;
    loop {
        let batch: Vec<RgbImage> = frames.by_ref().take(batch_len).collect();
        if batch.is_empty() {
            break;
        }
        for (offset, frame) in batch.iter().enumerate() {
            let found = frame.dimensions();
            let expected = *size.get_or_insert(found);
            if found != expected {
                return Err(ExportError::FrameSize {
                    path: path.to_owned(),
                    index: written + offset,
                    expected,
                    found,
                });
            }
        }
        let encoded: Vec<Result<Vec<u8>, ImageError>> = batch
            .par_iter()
            .map(|frame| encode_one_frame_gif(frame, delay))
            .collect();
        drop(batch);
        for gif in encoded {
            let gif = gif.map_err(|e| ExportError::encode(path, e))?;
            let split = body_start(&gif).ok_or_else(|| unexpected_layout(path))?;
            let (this_head, body) = gif.split_at(split);
            match &head {
                None => {
                    writer.write_all(this_head).map_err(io_error)?;
                    head = Some(this_head.to_vec());
                }
                // Same size, same options: the encoder writes the same header each time.
                Some(head) if head == this_head => {}
                Some(_) => return Err(unexpected_layout(path)),
            }
            writer.write_all(&body[..body.len() - 1]).map_err(io_error)?;
            written += 1;
            if !progress(written) {
                return Err(ExportError::Cancelled);
            }
        }
    }
    if written == 0 {
        return Err(ExportError::NoFrames {
            path: path.to_owned(),
        });
    }
    writer.write_all(&[TRAILER]).map_err(io_error)?;
    writer.flush().map_err(io_error)?;
    drop(writer);
    partial.keep();
    Ok(written)
}

/// `frame` as a complete GIF of one frame that loops forever, shown for `delay`.
fn encode_one_frame_gif(frame: &RgbImage, delay: Delay) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut bytes, QUANTIZER_SPEED);
        encoder.set_repeat(Repeat::Infinite)?;
        encoder.encode_frame(Frame::from_parts(to_rgba(frame), 0, 0, delay))?;
        // Dropping the encoder writes the trailer.
    }
    Ok(bytes)
}

/// Where the frame blocks of a one-frame GIF begin: after the header, the logical screen
/// descriptor, the global colour table if any, and any application extensions (the loop
/// block). `None` unless the GIF is well formed up to there and ends with the trailer.
fn body_start(gif: &[u8]) -> Option<usize> {
    const EXTENSION: u8 = 0x21;
    const APPLICATION: u8 = 0xFF;
    if !gif.starts_with(b"GIF89a") || gif.len() < 14 || gif.last() != Some(&TRAILER) {
        return None;
    }
    let flags = gif[10];
    let global_table_len = if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    };
    let mut pos = 13 + global_table_len;
    while gif.get(pos) == Some(&EXTENSION) && gif.get(pos + 1) == Some(&APPLICATION) {
        pos += 2;
        // Data sub-blocks, each prefixed by its length, ended by a zero length.
        loop {
            let len = usize::from(*gif.get(pos)?);
            pos += 1 + len;
            if len == 0 {
                break;
            }
        }
    }
    (pos < gif.len() - 1).then_some(pos)
}

/// The error for a one-frame GIF whose blocks are not laid out as [`body_start`] expects.
fn unexpected_layout(path: &Path) -> ExportError {
    ExportError::Encode {
        path: path.to_owned(),
        reason: ImageError::Encoding(EncodingError::new(
            ImageFormatHint::Exact(ImageFormat::Gif),
            "the GIF encoder wrote an unexpected block layout",
        )),
    }
}

/// `rgb` with an opaque alpha channel, as the GIF encoder takes it.
fn to_rgba(rgb: &RgbImage) -> RgbaImage {
    let mut rgba = Vec::with_capacity(rgb.as_raw().len() / 3 * 4);
    for p in rgb.as_raw().chunks_exact(3) {
        rgba.extend_from_slice(&[p[0], p[1], p[2], u8::MAX]);
    }
    RgbaImage::from_raw(rgb.width(), rgb.height(), rgba)
        .expect("an RgbImage holds exactly width·height pixels")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_starts_after_the_screen_descriptor_palette_and_loop_block() {
        let gif = encode_one_frame_gif(&RgbImage::new(4, 4), Delay::from_numer_denom_ms(0, 1)).unwrap();
        let start = body_start(&gif).unwrap();
        // The encoder writes a 2-entry global table (flags 0x80) and the 19-byte
        // NETSCAPE2.0 loop block; the body starts with a graphic control extension.
        assert_eq!(gif[10] & 0x87, 0x80);
        assert_eq!(start, 13 + 6 + 19);
        assert_eq!(&gif[start..start + 2], &[0x21, 0xF9]);
    }
}
