//! Contours of a density on a square grid: marching squares at a level, and the levels
//! that enclose given shares of the mass (highest-density regions).

/// The density `p = e^{log p}` level whose superlevel set holds each share of `masses`
/// (e.g. 0.5: the smallest region with half the mass), in nats; from a grid's cells of
/// equal area (the mass outside the grid is not counted). Levels are in the order of
/// `masses`; a share the grid cannot reach gives the lowest cell.
#[must_use]
pub fn hdr_levels(log_p: &[f64], masses: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = log_p.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let Some(&top) = sorted.first() else {
        return vec![f64::NAN; masses.len()];
    };
    let weights: Vec<f64> = sorted.iter().map(|v| (v - top).exp()).collect();
    let total: f64 = weights.iter().sum();
    masses
        .iter()
        .map(|&share| {
            let mut cumulative = 0.0;
            for (w, v) in weights.iter().zip(&sorted) {
                cumulative += w;
                if cumulative >= share * total {
                    return *v;
                }
            }
            sorted[sorted.len() - 1]
        })
        .collect()
}

/// The segments of the contour `value = level` of a `side × side` grid of cell centres
/// over `[−extent, extent]²` (row-major from the top row), by marching squares with
/// linear interpolation along the edges; the saddle cells are split by their centre's
/// mean. Each segment is two points in the grid's coordinates.
#[must_use]
pub fn contour_segments(values: &[f64], side: usize, extent: f64, level: f64) -> Vec<[[f64; 2]; 2]> {
    let cell = 2.0 * extent / side as f64;
    let at = |row: usize, col: usize| {
        [
            -extent + (col as f64 + 0.5) * cell,
            extent - (row as f64 + 0.5) * cell,
        ]
    };
    let mut out = Vec::new();
    if side < 2 || values.len() != side * side {
        return out;
    }
    for row in 0..side - 1 {
        for col in 0..side - 1 {
            // Corners counter-clockwise from the bottom left: (row + 1, col), (row + 1,
            // col + 1), (row, col + 1), (row, col).
            let corners = [(row + 1, col), (row + 1, col + 1), (row, col + 1), (row, col)];
            let v: Vec<f64> = corners.iter().map(|&(r, c)| values[r * side + c]).collect();
            if v.iter().any(|x| !x.is_finite()) {
                continue;
            }
            let above: Vec<bool> = v.iter().map(|&x| x >= level).collect();
            // The crossing on edge k (corner k to corner k + 1).
            let crossing = |k: usize| {
                let (a, b) = (k, (k + 1) % 4);
                let f = (level - v[a]) / (v[b] - v[a]);
                let (pa, pb) = (at(corners[a].0, corners[a].1), at(corners[b].0, corners[b].1));
                [pa[0] + f * (pb[0] - pa[0]), pa[1] + f * (pb[1] - pa[1])]
            };
            let edges: Vec<usize> = (0..4).filter(|&k| above[k] != above[(k + 1) % 4]).collect();
            match edges.len() {
                2 => out.push([crossing(edges[0]), crossing(edges[1])]),
                4 => {
                    // A saddle: corners 0 and 2 agree. If the centre is on their side,
                    // the other two corners are cut off; else these two are.
                    let centre_above = v.iter().sum::<f64>() / 4.0 >= level;
                    if centre_above == above[0] {
                        out.push([crossing(0), crossing(1)]);
                        out.push([crossing(2), crossing(3)]);
                    } else {
                        out.push([crossing(3), crossing(0)]);
                        out.push([crossing(1), crossing(2)]);
                    }
                }
                _ => {}
            }
        }
    }
    out
}
