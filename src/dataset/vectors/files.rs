//! A user's own vectors: `.npy` (little-endian float32, C order, 2-D) and `.fvecs` (per row a
//! little-endian int32 dimension then that many float32). Anything else is refused with a
//! message saying what the file is and what would be valid, never a panic.

use std::io::Write;
use std::path::Path;

/// Row-major matrix read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

/// Reads `.npy` or `.fvecs` by extension. The error says what is wrong (for the caller to
/// place in an input issue).
pub fn read_matrix(path: &Path) -> Result<Matrix, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => parse_npy(&bytes),
        Some("fvecs") => parse_fvecs(&bytes),
        _ => Err(unknown_type(path)),
    }
}

/// What `validate` learns from a vector file without reading it whole: its header, its size
/// and a sample of its first values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub rows: usize,
    pub dim: usize,
}

/// Bytes of values checked for NaN / infinity by [`inspect`] (a run checks every value).
const SAMPLE_BYTES: usize = 1 << 20;
/// A .npy header longer than this is not one numpy writes.
const MAX_NPY_HEADER: usize = 1 << 20;

/// Checks a vector file from its header, its size and its first values (at most 1 MiB), so a
/// file of any size validates in constant memory.
pub fn inspect(path: &Path) -> Result<Shape, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut f = std::fs::File::open(path).map_err(cannot)?;
    let len = f.metadata().map_err(cannot)?.len();
    let mut head = Vec::new();
    let ext = path.extension().and_then(|e| e.to_str());
    let want = match ext {
        Some("npy") => 12,
        Some("fvecs") => 4,
        _ => return Err(unknown_type(path)),
    };
    (&mut f).take(want).read_to_end(&mut head).map_err(cannot)?;
    let (shape, data_start, row_bytes, row_offset) = match ext {
        Some("npy") => {
            let (header_len, start) = npy_header_len(&head)?;
            (&mut f)
                .take((start + header_len).saturating_sub(head.len()) as u64)
                .read_to_end(&mut head)
                .map_err(cannot)?;
            let (rows, dim, data_start) = npy_header(&head)?;
            check_size(rows, dim, len.saturating_sub(data_start as u64))?;
            (Shape { rows, dim }, data_start, dim * 4, 0)
        }
        _ => {
            let dim = fvecs_dim(&head)?;
            let row_bytes = 4 + dim * 4;
            let rows = fvecs_rows(len, row_bytes, dim)?;
            (Shape { rows, dim }, 0, row_bytes, 4)
        }
    };
    let mut sample = Vec::new();
    let take = (SAMPLE_BYTES / row_bytes).max(1) * row_bytes;
    f = std::fs::File::open(path).map_err(cannot)?;
    std::io::copy(&mut (&mut f).take(data_start as u64), &mut std::io::sink()).map_err(cannot)?;
    f.take(take as u64)
        .read_to_end(&mut sample)
        .map_err(cannot)?;
    for (r, row) in sample.chunks_exact(row_bytes).enumerate() {
        if row_offset == 4
            && i32::from_le_bytes([row[0], row[1], row[2], row[3]]) as usize != shape.dim
        {
            return Err(format!(
                ".fvecs row {r} has another dimension than the first row's {}; all rows must agree",
                shape.dim
            ));
        }
        check_finite(r, &row[row_offset..])?;
    }
    Ok(shape)
}

fn unknown_type(path: &Path) -> String {
    format!(
        "{}: unknown vector file type; valid: .npy (float32, 2-D) or .fvecs",
        path.display()
    )
}

fn check_finite(row: usize, values: &[u8]) -> Result<(), String> {
    match values
        .chunks_exact(4)
        .position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
    {
        Some(j) => Err(format!(
            "row {row}, value {j} is NaN or infinite; every value must be a finite float32"
        )),
        None => Ok(()),
    }
}

fn npy_header_len(bytes: &[u8]) -> Result<(usize, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => {
            return Err(format!(
                "unsupported .npy version {major}; valid: 1, 2 or 3"
            ));
        }
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(
            ".npy header claims {len} bytes; numpy writes headers well under 1 MiB"
        ));
    }
    Ok((len, start))
}

/// (rows, dimension, offset of the data) from the start of a .npy file.
fn npy_header(bytes: &[u8]) -> Result<(usize, usize, usize), String> {
    let (header_len, start) = npy_header_len(bytes)?;
    let header = bytes
        .get(start..start + header_len)
        .ok_or(".npy header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let descr = dict_value(header, "descr").ok_or(".npy header has no descr")?;
    if !matches!(descr.trim_matches(|c| c == '\'' || c == '"'), "<f4" | "f4") {
        return Err(format!(
            ".npy dtype {descr} is not supported; valid: little-endian float32 ('<f4'), e.g. np.save(path, x.astype(np.float32))"
        ));
    }
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(
            ".npy array is in Fortran order; save a C-ordered array (np.ascontiguousarray)".into(),
        );
    }
    let shape = dict_value(header, "shape").ok_or(".npy header has no shape")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!(".npy shape {shape} is not numeric"))
        })
        .collect::<Result<_, _>>()?;
    let [rows, dim] = dims[..] else {
        return Err(format!(
            ".npy array has shape {shape}; valid: 2-D (rows, dimension)"
        ));
    };
    if rows == 0 || dim == 0 {
        return Err(format!(
            ".npy array has shape {shape}: no vectors; valid: at least one row of dimension >= 1"
        ));
    }
    Ok((rows, dim, start + header_len))
}

/// The data after the header must be exactly rows x dim float32 (checked arithmetic: a
/// header may claim any size).
fn check_size(rows: usize, dim: usize, body: u64) -> Result<(), String> {
    let want = rows
        .checked_mul(dim)
        .and_then(|n| n.checked_mul(4))
        .map(|n| n as u64);
    if want != Some(body) {
        return Err(format!(
            ".npy data is truncated or oversized: shape ({rows}, {dim}) needs {} bytes, the file holds {body}",
            want.map_or("more than 2^64".to_string(), |w| w.to_string())
        ));
    }
    Ok(())
}

pub fn parse_npy(bytes: &[u8]) -> Result<Matrix, String> {
    let (rows, dim, start) = npy_header(bytes)?;
    let body = &bytes[start.min(bytes.len())..];
    check_size(rows, dim, body.len() as u64)?;
    for (r, row) in body.chunks_exact(dim * 4).enumerate() {
        check_finite(r, row)?;
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Matrix { rows, dim, data })
}

/// The value text of `'key': value` in a numpy header dict (values hold no nested quotes
/// or dicts).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}'])?
    };
    Some(rest[..end].trim())
}

fn fvecs_dim(bytes: &[u8]) -> Result<usize, String> {
    if bytes.len() < 4 {
        return Err("not an .fvecs file: shorter than one dimension header (no vectors)".into());
    }
    let dim = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if !(1..=65_536).contains(&dim) {
        return Err(format!(
            "not an .fvecs file: first row's dimension is {dim} (valid: 1..=65536)"
        ));
    }
    Ok(dim as usize)
}

fn fvecs_rows(len: u64, row_bytes: usize, dim: usize) -> Result<usize, String> {
    if !len.is_multiple_of(row_bytes as u64) {
        return Err(format!(
            ".fvecs file is truncated: {len} bytes is not a whole number of {dim}-d rows ({row_bytes} bytes each)"
        ));
    }
    Ok((len / row_bytes as u64) as usize)
}

pub fn parse_fvecs(bytes: &[u8]) -> Result<Matrix, String> {
    let dim = fvecs_dim(bytes)?;
    let row_bytes = 4 + dim * 4;
    let rows = fvecs_rows(bytes.len() as u64, row_bytes, dim)?;
    let mut data = Vec::with_capacity(rows * dim);
    for (i, row) in bytes.chunks_exact(row_bytes).enumerate() {
        let d = i32::from_le_bytes([row[0], row[1], row[2], row[3]]);
        if d as usize != dim {
            return Err(format!(
                ".fvecs row {i} has dimension {d}, the first row {dim}; all rows must agree"
            ));
        }
        check_finite(i, &row[4..])?;
        data.extend(
            row[4..]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    Ok(Matrix { rows, dim, data })
}

/// Writes a float32 `.npy` (version 1.0), e.g. to export generated data or for tests.
pub fn write_npy(out: &mut impl Write, m: &Matrix) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.rows, m.dim
    );
    // Header padded with spaces so the data starts 64-byte aligned, ending in a newline.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in &m.data {
        out.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

pub fn write_fvecs(out: &mut impl Write, m: &Matrix) -> std::io::Result<()> {
    for row in m.data.chunks_exact(m.dim) {
        out.write_all(&(m.dim as i32).to_le_bytes())?;
        for v in row {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Matrix {
        Matrix {
            rows: 3,
            dim: 4,
            data: (0..12).map(|i| i as f32 * 0.5 - 1.0).collect(),
        }
    }

    #[test]
    fn npy_round_trip() {
        let mut buf = Vec::new();
        write_npy(&mut buf, &sample()).unwrap();
        assert_eq!((buf.len() - 12 * 4) % 64, 0, "data is 64-byte aligned");
        assert_eq!(parse_npy(&buf).unwrap(), sample());
    }

    #[test]
    fn fvecs_round_trip() {
        let mut buf = Vec::new();
        write_fvecs(&mut buf, &sample()).unwrap();
        assert_eq!(buf.len(), 3 * (4 + 16));
        assert_eq!(parse_fvecs(&buf).unwrap(), sample());
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let mut npy = Vec::new();
        write_npy(&mut npy, &sample()).unwrap();
        let e = parse_npy(&npy[..npy.len() - 3]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let mut fv = Vec::new();
        write_fvecs(&mut fv, &sample()).unwrap();
        let e = parse_fvecs(&fv[..fv.len() - 1]).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        assert!(parse_npy(b"hello world, not numpy").is_err());
        assert!(parse_fvecs(b"\xff\xff\xff\xff").is_err());
        let at = npy.windows(3).position(|w| w == b"<f4").unwrap();
        npy[at + 2] = b'8';
        assert!(parse_npy(&npy).unwrap_err().contains("float32"));
    }
}
