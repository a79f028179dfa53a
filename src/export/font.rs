//! A hand-written 5×7 bitmap font, so that exported figures can carry labels without a
//! font crate.
//!
//! Each glyph is 5 pixels wide and 7 tall above the baseline, with two more rows below it
//! for the descenders of `g j p q y , ;` and `β`. A glyph advances 6 pixels (one blank
//! column), and a line is 9 pixels tall; lines of a multi-line text are 2 pixels apart.
//! All of these are multiplied by the integer `scale`. A character the font lacks is
//! drawn as a box, so a missing glyph is visible rather than silently dropped.

use image::RgbImage;

/// Glyph width in font pixels.
const GLYPH_W: u32 = 5;
/// Rows in a glyph bitmap: 7 above the baseline and 2 of descender.
const GLYPH_ROWS: usize = 9;
/// Horizontal advance of one glyph in font pixels (glyph plus one blank column).
const ADVANCE_X: u32 = GLYPH_W + 1;
/// Height of one line of text in font pixels (cap height 7 plus descender 2).
const LINE_H: u32 = GLYPH_ROWS as u32;
/// Blank rows between two lines of a multi-line text, in font pixels.
const LINE_GAP: u32 = 2;

/// One glyph: `GLYPH_ROWS` rows, bit 4 of each row is the leftmost pixel.
type Glyph = [u8; GLYPH_ROWS];

/// Parses a glyph written as space-separated rows of `#` (ink) and `.` (blank), top row
/// first; rows not written are blank. Runs at compile time (the font is a `static`).
const fn glyph(art: &str) -> Glyph {
    let bytes = art.as_bytes();
    let mut rows = [0u8; GLYPH_ROWS];
    let mut row = 0;
    let mut col = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => {
                assert!(col == GLYPH_W, "a glyph row must be 5 pixels wide");
                row += 1;
                col = 0;
            }
            b'#' => {
                rows[row] |= 1 << (GLYPH_W - 1 - col);
                col += 1;
            }
            b'.' => col += 1,
            _ => panic!("glyph art uses only '#', '.' and ' '"),
        }
        i += 1;
    }
    assert!(col == GLYPH_W, "a glyph row must be 5 pixels wide");
    rows
}

/// The box drawn for a character the font lacks.
const UNKNOWN: Glyph = glyph("##### #...# #...# #...# #...# #...# #####");

/// Every glyph of the font. Lowercase letters have a 5-row x-height (rows 2–6).
// One glyph per line reads as a table; rustfmt would break the nine-row ones.
#[rustfmt::skip]
static FONT: &[(char, Glyph)] = &[
    (' ', glyph(".....")),
    // Digits.
    ('0', glyph(".###. #...# #..## #.#.# ##..# #...# .###.")),
    ('1', glyph("..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.")),
    ('2', glyph(".###. #...# ....# ...#. ..#.. .#... #####")),
    ('3', glyph("##### ...#. ..#.. ...#. ....# #...# .###.")),
    ('4', glyph("...#. ..##. .#.#. #..#. ##### ...#. ...#.")),
    ('5', glyph("##### #.... ####. ....# ....# #...# .###.")),
    ('6', glyph("..##. .#... #.... ####. #...# #...# .###.")),
    ('7', glyph("##### ....# ...#. ..#.. .#... .#... .#...")),
    ('8', glyph(".###. #...# #...# .###. #...# #...# .###.")),
    ('9', glyph(".###. #...# #...# .#### ....# ...#. .##..")),
    // Uppercase.
    ('A', glyph(".###. #...# #...# ##### #...# #...# #...#")),
    ('B', glyph("####. #...# #...# ####. #...# #...# ####.")),
    ('C', glyph(".###. #...# #.... #.... #.... #...# .###.")),
    ('D', glyph("###.. #..#. #...# #...# #...# #..#. ###..")),
    ('E', glyph("##### #.... #.... ####. #.... #.... #####")),
    ('F', glyph("##### #.... #.... ####. #.... #.... #....")),
    ('G', glyph(".###. #...# #.... #.### #...# #...# .####")),
    ('H', glyph("#...# #...# #...# ##### #...# #...# #...#")),
    ('I', glyph(".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.")),
    ('J', glyph("..### ...#. ...#. ...#. ...#. #..#. .##..")),
    ('K', glyph("#...# #..#. #.#.. ##... #.#.. #..#. #...#")),
    ('L', glyph("#.... #.... #.... #.... #.... #.... #####")),
    ('M', glyph("#...# ##.## #.#.# #.#.# #...# #...# #...#")),
    ('N', glyph("#...# #...# ##..# #.#.# #..## #...# #...#")),
    ('O', glyph(".###. #...# #...# #...# #...# #...# .###.")),
    ('P', glyph("####. #...# #...# ####. #.... #.... #....")),
    ('Q', glyph(".###. #...# #...# #...# #.#.# #..#. .##.#")),
    ('R', glyph("####. #...# #...# ####. #.#.. #..#. #...#")),
    ('S', glyph(".#### #.... #.... .###. ....# ....# ####.")),
    ('T', glyph("##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..")),
    ('U', glyph("#...# #...# #...# #...# #...# #...# .###.")),
    ('V', glyph("#...# #...# #...# #...# .#.#. .#.#. ..#..")),
    ('W', glyph("#...# #...# #...# #.#.# #.#.# #.#.# .#.#.")),
    ('X', glyph("#...# #...# .#.#. ..#.. .#.#. #...# #...#")),
    ('Y', glyph("#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..")),
    ('Z', glyph("##### ....# ...#. ..#.. .#... #.... #####")),
    // Lowercase.
    ('a', glyph("..... ..... .###. ....# .#### #...# .####")),
    ('b', glyph("#.... #.... #.##. ##..# #...# #...# ####.")),
    ('c', glyph("..... ..... .###. #.... #.... #...# .###.")),
    ('d', glyph("....# ....# .##.# #..## #...# #...# .####")),
    ('e', glyph("..... ..... .###. #...# ##### #.... .###.")),
    ('f', glyph("..##. .#..# .#... ###.. .#... .#... .#...")),
    (
        'g',
        glyph("..... ..... .#### #...# #...# #...# .#### ....# .###."),
    ),
    ('h', glyph("#.... #.... #.##. ##..# #...# #...# #...#")),
    ('i', glyph("..#.. ..... .##.. ..#.. ..#.. ..#.. .###.")),
    (
        'j',
        glyph("...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##.."),
    ),
    ('k', glyph("#.... #.... #..#. #.#.. ##... #.#.. #..#.")),
    ('l', glyph(".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.")),
    ('m', glyph("..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#")),
    ('n', glyph("..... ..... #.##. ##..# #...# #...# #...#")),
    ('o', glyph("..... ..... .###. #...# #...# #...# .###.")),
    (
        'p',
        glyph("..... ..... ####. #...# #...# #...# ####. #.... #...."),
    ),
    (
        'q',
        glyph("..... ..... .#### #...# #...# #...# .#### ....# ....#"),
    ),
    ('r', glyph("..... ..... #.##. ##..# #.... #.... #....")),
    ('s', glyph("..... ..... .#### #.... .###. ....# ####.")),
    ('t', glyph(".#... .#... ###.. .#... .#... .#..# ..##.")),
    ('u', glyph("..... ..... #...# #...# #...# #..## .##.#")),
    ('v', glyph("..... ..... #...# #...# .#.#. .#.#. ..#..")),
    ('w', glyph("..... ..... #...# #...# #.#.# #.#.# .#.#.")),
    ('x', glyph("..... ..... #...# .#.#. ..#.. .#.#. #...#")),
    (
        'y',
        glyph("..... ..... #...# #...# #...# #...# .#### ....# .###."),
    ),
    ('z', glyph("..... ..... ##### ...#. ..#.. .#... #####")),
    // Punctuation and symbols.
    ('.', glyph("..... ..... ..... ..... ..... .##.. .##..")),
    (
        ',',
        glyph("..... ..... ..... ..... ..... .##.. .##.. ..#.. .#..."),
    ),
    (':', glyph("..... .##.. .##.. ..... .##.. .##.. .....")),
    (
        ';',
        glyph("..... .##.. .##.. ..... .##.. .##.. ..#.. .#..."),
    ),
    ('=', glyph("..... ..... ##### ..... ##### ..... .....")),
    ('+', glyph("..... ..#.. ..#.. ##### ..#.. ..#.. .....")),
    // The hyphen is shorter than the minus sign, as in print.
    ('-', glyph("..... ..... ..... .###. ..... ..... .....")),
    (
        '\u{2212}',
        glyph("..... ..... ..... ##### ..... ..... ....."),
    ),
    ('(', glyph("...#. ..#.. .#... .#... .#... ..#.. ...#.")),
    (')', glyph(".#... ..#.. ...#. ...#. ...#. ..#.. .#...")),
    ('[', glyph(".###. .#... .#... .#... .#... .#... .###.")),
    (']', glyph(".###. ...#. ...#. ...#. ...#. ...#. .###.")),
    ('/', glyph("..... ....# ...#. ..#.. .#... #.... .....")),
    ('_', glyph("..... ..... ..... ..... ..... ..... #####")),
    ('\'', glyph("..#.. ..#.. .#... ..... ..... ..... .....")),
    ('"', glyph(".#.#. .#.#. ..... ..... ..... ..... .....")),
    ('|', glyph("..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..")),
    ('%', glyph("##... ##..# ...#. ..#.. .#... #..## ...##")),
    ('#', glyph(".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.")),
    ('*', glyph("..... ..#.. #.#.# .###. #.#.# ..#.. .....")),
    ('<', glyph("...#. ..#.. .#... #.... .#... ..#.. ...#.")),
    ('>', glyph(".#... ..#.. ...#. ....# ...#. ..#.. .#...")),
    ('!', glyph("..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..")),
    ('?', glyph(".###. #...# ....# ...#. ..#.. ..... ..#..")),
    (
        '\u{00D7}',
        glyph("..... #...# .#.#. ..#.. .#.#. #...# ....."),
    ), // ×
    (
        '\u{00B7}',
        glyph("..... ..... ..... .##.. .##.. ..... ....."),
    ), // ·
    (
        '\u{00B2}',
        glyph(".##.. #..#. ..#.. .#... ####. ..... ....."),
    ), // ²
    (
        '\u{2248}',
        glyph("..... .#... #.#.# ...#. .#... #.#.# ...#."),
    ), // ≈
    (
        '\u{2192}',
        glyph("..... ..#.. ...#. ##### ...#. ..#.. ....."),
    ), // →
    // Greek: α β ε σ, and ᾱ (alpha with macron) for the cumulative product ᾱ_t.
    (
        '\u{03B1}',
        glyph("..... ..... .##.# #..#. #..#. #..#. .##.#"),
    ),
    (
        '\u{03B2}',
        glyph(".##.. #..#. #..#. ###.. #..#. #..#. ###.. #.... #...."),
    ),
    (
        '\u{03B5}',
        glyph("..... ..... .#### #.... .###. #.... .####"),
    ),
    (
        '\u{03C3}',
        glyph("..... ..... .#### #..#. #...# #...# .###."),
    ),
    (
        '\u{1FB1}',
        glyph("##### ..... .##.# #..#. #..#. #..#. .##.#"),
    ),
];

/// The glyph for `c`, or the box if the font lacks it.
fn lookup(c: char) -> Glyph {
    FONT.iter().find(|(k, _)| *k == c).map_or(UNKNOWN, |(_, g)| *g)
}

/// Whether `c` is a combining overline or macron, which puts a bar over the glyph
/// before it (so `"α\u{304}"` draws like `ᾱ`).
fn is_combining_bar(c: char) -> bool {
    matches!(c, '\u{0304}' | '\u{0305}')
}

/// The glyphs of one line, with combining bars applied to the glyph before them.
fn line_glyphs(line: &str) -> Vec<Glyph> {
    let mut glyphs: Vec<Glyph> = Vec::with_capacity(line.len());
    for c in line.chars() {
        if is_combining_bar(c) {
            if let Some(last) = glyphs.last_mut() {
                last[0] = 0b1_1111;
            }
        } else {
            glyphs.push(lookup(c));
        }
    }
    glyphs
}

/// Width and height in pixels of `text` drawn at `scale` (0 counts as 1).
///
/// A line of n characters is `(6·n − 1)·scale` wide; a text of k lines (split at `'\n'`)
/// is `(9·k + 2·(k − 1))·scale` tall; the empty string is `(0, 0)`. Combining bars
/// (U+0304, U+0305) take no width.
#[must_use]
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    if text.is_empty() {
        return (0, 0);
    }
    let scale = scale.max(1);
    let mut width = 0;
    let mut lines = 0;
    for line in text.split('\n') {
        lines += 1;
        let n = line_glyphs(line).len() as u32;
        width = width.max((n * ADVANCE_X).saturating_sub(1));
    }
    let height = lines * LINE_H + (lines - 1) * LINE_GAP;
    (width * scale, height * scale)
}

/// Draws `text` with its top-left corner at (`x`, `y`), each font pixel a `scale`×`scale`
/// square (0 counts as 1) of colour `rgb`; whatever falls outside `img` is clipped.
///
/// Lines split at `'\n'` are left-aligned; the box drawn is the one [`text_size`] gives.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, rgb: [u8; 3]) {
    let scale = i64::from(scale.max(1));
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let line_step = i64::from(LINE_H + LINE_GAP) * scale;
    for (line_index, line) in text.split('\n').enumerate() {
        let top = y + line_index as i64 * line_step;
        for (glyph_index, g) in line_glyphs(line).iter().enumerate() {
            let left = x + glyph_index as i64 * i64::from(ADVANCE_X) * scale;
            for (row, bits) in g.iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                        continue;
                    }
                    let px = left + i64::from(col) * scale;
                    let py = top + row as i64 * scale;
                    for yy in py.max(0)..(py + scale).min(h) {
                        for xx in px.max(0)..(px + scale).min(w) {
                            img.put_pixel(xx as u32, yy as u32, image::Rgb(rgb));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glyph_is_distinct_from_the_box_and_unique() {
        for (i, (c, g)) in FONT.iter().enumerate() {
            if *c != ' ' {
                assert_ne!(*g, UNKNOWN, "{c:?} draws as the unknown box");
                assert!(g.iter().any(|r| *r != 0), "{c:?} is blank");
            }
            for (d, _) in &FONT[i + 1..] {
                assert_ne!(c, d, "{c:?} is defined twice");
            }
        }
    }

    /// The ink of `text` drawn at `scale` in black on white, as rows of `#` and `.`
    /// (trailing blank columns kept, so every row is as wide as the text box).
    fn rendered(text: &str, scale: u32) -> Vec<String> {
        let (w, h) = text_size(text, scale);
        let mut img = RgbImage::from_pixel(w.max(1), h.max(1), image::Rgb([255, 255, 255]));
        draw_text(&mut img, 0, 0, text, scale, [0, 0, 0]);
        (0..img.height())
            .map(|y| {
                (0..img.width())
                    .map(|x| if img.get_pixel(x, y).0[0] == 0 { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    fn ink(rows: &[String]) -> usize {
        rows.iter().map(|r| r.matches('#').count()).sum()
    }

    /// Every character draws its own picture: the rendered bitmaps of two different
    /// characters differ (a glyph pasted under a second character would not), none is the
    /// box of a missing character, and all but the space have ink.
    #[test]
    fn every_character_renders_a_distinct_bitmap() {
        let missing = rendered("\u{2603}", 1);
        let pictures: Vec<(char, Vec<String>)> = FONT
            .iter()
            .map(|(c, _)| (*c, rendered(&c.to_string(), 1)))
            .collect();
        for (i, (c, picture)) in pictures.iter().enumerate() {
            assert_eq!(picture.len(), 9, "{c:?}: 9 rows");
            if *c != ' ' {
                assert_ne!(*picture, missing, "{c:?} renders as the missing-glyph box");
                assert!(ink(picture) > 0, "{c:?} renders blank");
            }
            for (d, other) in &pictures[i + 1..] {
                assert_ne!(picture, other, "{c:?} and {d:?} render the same bitmap");
            }
        }
    }

    /// Known pictures, counted by hand from the glyph art: ink per glyph at scale 1, and
    /// at scale 3 every font pixel is a 3×3 block (nine times the ink). Templates of `A`
    /// and of `g` (with its descender below the baseline), and the advance: the second
    /// glyph starts 6 pixels on.
    #[test]
    fn glyphs_render_their_known_pixels() {
        for (c, count) in [
            ('I', 11),
            ('0', 19),
            ('g', 18),
            ('.', 4),
            ('-', 3),
            ('\u{2212}', 5),
            ('A', 18),
        ] {
            assert_eq!(ink(&rendered(&c.to_string(), 1)), count, "{c:?} at scale 1");
            assert_eq!(ink(&rendered(&c.to_string(), 3)), 9 * count, "{c:?} at scale 3");
        }
        let a = [
            ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", ".....", ".....",
        ];
        assert_eq!(rendered("A", 1), a);
        let g = [
            ".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###.",
        ];
        assert_eq!(rendered("g", 1), g);
        let ag = rendered("Ag", 1);
        for (row, (left, right)) in ag.iter().zip(a.iter().zip(g)) {
            assert_eq!(*row, format!("{left}.{right}"));
        }
        let big = rendered("A", 3);
        assert_eq!((big[0].len(), big.len()), (15, 27));
        for (y, row) in big.iter().enumerate() {
            for (x, px) in row.chars().enumerate() {
                assert_eq!(
                    px,
                    a[y / 3].as_bytes()[x / 3] as char,
                    "A at scale 3, pixel ({x}, {y})"
                );
            }
        }
    }

    #[test]
    fn combining_macron_bars_the_alpha() {
        assert_eq!(line_glyphs("\u{3b1}\u{304}"), vec![lookup('\u{1FB1}')]);
    }
}
