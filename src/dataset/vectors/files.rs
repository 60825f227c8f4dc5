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
        _ => Err(format!(
            "{}: unknown vector file type; valid: .npy (float32, 2-D) or .fvecs",
            path.display()
        )),
    }
}

pub fn parse_npy(bytes: &[u8]) -> Result<Matrix, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
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
    let body = &bytes[start + header_len..];
    let want = rows * dim * 4;
    if body.len() != want {
        return Err(format!(
            ".npy data is truncated or oversized: shape {shape} needs {want} bytes, the file holds {}",
            body.len()
        ));
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

pub fn parse_fvecs(bytes: &[u8]) -> Result<Matrix, String> {
    if bytes.len() < 4 {
        return Err("not an .fvecs file: shorter than one dimension header".into());
    }
    let dim = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if !(1..=65_536).contains(&dim) {
        return Err(format!(
            "not an .fvecs file: first row's dimension is {dim} (valid: 1..=65536)"
        ));
    }
    let dim = dim as usize;
    let row_bytes = 4 + dim * 4;
    if !bytes.len().is_multiple_of(row_bytes) {
        return Err(format!(
            ".fvecs file is truncated: {} bytes is not a whole number of {dim}-d rows ({row_bytes} bytes each)",
            bytes.len()
        ));
    }
    let rows = bytes.len() / row_bytes;
    let mut data = Vec::with_capacity(rows * dim);
    for (i, row) in bytes.chunks_exact(row_bytes).enumerate() {
        let d = i32::from_le_bytes([row[0], row[1], row[2], row[3]]);
        if d as usize != dim {
            return Err(format!(
                ".fvecs row {i} has dimension {d}, the first row {dim}; all rows must agree"
            ));
        }
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
