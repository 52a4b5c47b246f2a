//! RGB <-> YUV 4:2:0 conversion (BT.601, limited range), the colour model H.264 streams
//! without colour tags are decoded with.

/// Packed RGB8 to planar I420. Chroma is the average of each 2x2 block.
pub fn rgb_to_yuv420(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0u8; w * h + 2 * cw * ch];
    let (y_plane, chroma) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 3;
            let (r, g, b) = (rgb[i] as i32, rgb[i + 1] as i32, rgb[i + 2] as i32);
            y_plane[y * w + x] =
                (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(0, 255) as u8;
        }
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0i32, 0i32, 0i32, 0i32);
            for dy in 0..2 {
                for dx in 0..2 {
                    let (x, y) = (cx * 2 + dx, cy * 2 + dy);
                    if x < w && y < h {
                        let i = (y * w + x) * 3;
                        r += rgb[i] as i32;
                        g += rgb[i + 1] as i32;
                        b += rgb[i + 2] as i32;
                        n += 1;
                    }
                }
            }
            let (r, g, b) = ((r + n / 2) / n, (g + n / 2) / n, (b + n / 2) / n);
            u_plane[cy * cw + cx] =
                (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            v_plane[cy * cw + cx] =
                (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
        }
    }
    out
}

/// Planar I420 to packed RGB8.
pub fn yuv420_to_rgb(yuv: &[u8], width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let (y_plane, chroma) = yuv.split_at(w * h);
    let (u_plane, v_plane) = chroma.split_at(cw * ch);
    let mut out = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let c = (y / 2) * cw + x / 2;
            let yy = (y_plane[y * w + x] as i32 - 16) * 298;
            let u = u_plane[c] as i32 - 128;
            let v = v_plane[c] as i32 - 128;
            let i = (y * w + x) * 3;
            out[i] = ((yy + 409 * v + 128) >> 8).clamp(0, 255) as u8;
            out[i + 1] = ((yy - 100 * u - 208 * v + 128) >> 8).clamp(0, 255) as u8;
            out[i + 2] = ((yy + 516 * u + 128) >> 8).clamp(0, 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_close_for_flat_colours() {
        for rgb in [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [128, 128, 128],
            [20, 200, 90],
        ] {
            let img: Vec<u8> = (0..16).flat_map(|_| rgb).collect();
            let back = yuv420_to_rgb(&rgb_to_yuv420(&img, 4, 4), 4, 4);
            for (a, b) in img.iter().zip(&back) {
                assert!((*a as i32 - *b as i32).abs() <= 3, "{rgb:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn odd_sizes_do_not_overrun() {
        let img = vec![100u8; 5 * 3 * 3];
        let yuv = rgb_to_yuv420(&img, 5, 3);
        assert_eq!(yuv.len(), 15 + 2 * 3 * 2);
        assert_eq!(yuv420_to_rgb(&yuv, 5, 3).len(), img.len());
    }
}
