//! Just enough Bolt 5.0 to run one `PROFILE` and read its plan: neo4rs 0.8 keeps the result
//! summary (where Neo4j puts the profiled plan with db hits) private. Plain connections only;
//! used once per operation and profile, never in the measured loop.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::CypherValue;
use crate::dataset::ParamValue;

pub struct BoltProfile {
    stream: TcpStream,
}

type R<T> = std::result::Result<T, String>;

impl BoltProfile {
    /// Connects and authenticates. `url` is bolt://HOST:PORT or neo4j://HOST:PORT.
    pub async fn connect(url: &str, user: &str, password: &str) -> R<Self> {
        let addr = url
            .strip_prefix("bolt://")
            .or_else(|| url.strip_prefix("neo4j://"))
            .ok_or("PROFILE capture needs a plain bolt:// or neo4j:// URL")?;
        let addr = addr.split('/').next().unwrap_or(addr);
        let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        // Magic, then Bolt 5.0 as the only proposal.
        let mut hs = vec![0x60, 0x60, 0xB0, 0x17, 0, 0, 0, 5];
        hs.extend_from_slice(&[0; 12]);
        stream.write_all(&hs).await.map_err(|e| e.to_string())?;
        let mut v = [0u8; 4];
        stream.read_exact(&mut v).await.map_err(|e| e.to_string())?;
        if v != [0, 0, 0, 5] {
            return Err(format!("server refused Bolt 5.0 (answered {v:?})"));
        }
        let mut b = BoltProfile { stream };
        let mut hello = Vec::new();
        put_struct(&mut hello, 0x01, 1);
        put_map_header(&mut hello, 4);
        for (k, val) in [
            ("user_agent", "tunebench/profile"),
            ("scheme", "basic"),
            ("principal", user),
            ("credentials", password),
        ] {
            put_str(&mut hello, k);
            put_str(&mut hello, val);
        }
        b.send(&hello).await?;
        b.expect_success().await?;
        Ok(b)
    }

    /// Runs `PROFILE cypher` with the parameters, pulls every row, returns the plan tree.
    pub async fn profile(&mut self, cypher: &str, params: &[(String, CypherValue)]) -> R<Value> {
        self.summary(&format!("PROFILE {cypher}"), params)
            .await?
            .get("profile")
            .cloned()
            .ok_or_else(|| "the summary carries no profile".to_string())
    }

    /// `EXPLAIN cypher` (compiled, not run): the summary, with Neo4j's query `type` (`r` for
    /// a read, `rw`, `w`, `s` for schema), the plan and the notifications (unknown labels,
    /// relationship types and properties among them).
    pub async fn explain(
        &mut self,
        cypher: &str,
        params: &[(String, CypherValue)],
    ) -> R<Map<String, Value>> {
        self.summary(&format!("EXPLAIN {cypher}"), params).await
    }

    /// Runs `text`, pulls every row, returns the final summary.
    async fn summary(
        &mut self,
        text: &str,
        params: &[(String, CypherValue)],
    ) -> R<Map<String, Value>> {
        let mut run = Vec::new();
        put_struct(&mut run, 0x10, 3);
        put_str(&mut run, text);
        put_map_header(&mut run, params.len());
        for (k, v) in params {
            put_str(&mut run, k);
            match v {
                CypherValue::One(v) => put_value(&mut run, v),
                CypherValue::Row(row) => {
                    put_map_header(&mut run, row.len());
                    for (k, v) in row {
                        put_str(&mut run, k);
                        put_value(&mut run, v);
                    }
                }
            }
        }
        put_map_header(&mut run, 0);
        self.send(&run).await?;
        self.expect_success().await?;
        let mut pull = Vec::new();
        put_struct(&mut pull, 0x3F, 1);
        put_map_header(&mut pull, 1);
        put_str(&mut pull, "n");
        put_int(&mut pull, -1);
        self.send(&pull).await?;
        loop {
            let (tag, fields) = self.recv().await?;
            match tag {
                0x71 => continue,
                0x70 => {
                    return match fields.into_iter().next() {
                        Some(Value::Object(m)) => Ok(m),
                        _ => Ok(Map::new()),
                    };
                }
                _ => return Err(failure(tag, &fields)),
            }
        }
    }

    async fn expect_success(&mut self) -> R<()> {
        let (tag, fields) = self.recv().await?;
        if tag == 0x70 {
            Ok(())
        } else {
            Err(failure(tag, &fields))
        }
    }

    async fn send(&mut self, msg: &[u8]) -> R<()> {
        let mut out = Vec::with_capacity(msg.len() + 4);
        for chunk in msg.chunks(0xFFFF) {
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&[0, 0]);
        self.stream.write_all(&out).await.map_err(|e| e.to_string())
    }

    async fn recv(&mut self) -> R<(u8, Vec<Value>)> {
        let mut msg = Vec::new();
        loop {
            let mut len = [0u8; 2];
            self.stream
                .read_exact(&mut len)
                .await
                .map_err(|e| e.to_string())?;
            let n = u16::from_be_bytes(len) as usize;
            if n == 0 {
                if msg.is_empty() {
                    continue; // a NOOP keep-alive chunk
                }
                break;
            }
            let start = msg.len();
            msg.resize(start + n, 0);
            self.stream
                .read_exact(&mut msg[start..])
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut pos = 0;
        match decode(&msg, &mut pos)? {
            Value::Object(mut o) if o.contains_key("$tag") => {
                let tag = o["$tag"].as_u64().unwrap_or(0) as u8;
                let fields = match o.remove("fields") {
                    Some(Value::Array(f)) => f,
                    _ => Vec::new(),
                };
                Ok((tag, fields))
            }
            _ => Err("not a Bolt message".into()),
        }
    }
}

fn failure(tag: u8, fields: &[Value]) -> String {
    let m = fields.first().cloned().unwrap_or(Value::Null);
    match tag {
        0x7F => format!(
            "{}: {}",
            m["code"].as_str().unwrap_or("?"),
            m["message"].as_str().unwrap_or("?")
        ),
        _ => format!("unexpected Bolt message 0x{tag:02X}"),
    }
}

fn put_struct(b: &mut Vec<u8>, tag: u8, n: u8) {
    b.push(0xB0 + n);
    b.push(tag);
}

fn put_map_header(b: &mut Vec<u8>, n: usize) {
    if n < 16 {
        b.push(0xA0 + n as u8);
    } else if n < 256 {
        b.push(0xD8);
        b.push(n as u8);
    } else {
        b.push(0xD9);
        b.extend_from_slice(&(n.min(65535) as u16).to_be_bytes());
    }
}

fn put_list_header(b: &mut Vec<u8>, n: usize) {
    if n < 16 {
        b.push(0x90 + n as u8);
    } else if n < 256 {
        b.extend_from_slice(&[0xD4, n as u8]);
    } else if n < 65536 {
        b.push(0xD5);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0xD6);
        b.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn put_float(b: &mut Vec<u8>, f: f64) {
    b.push(0xC1);
    b.extend_from_slice(&f.to_be_bytes());
}

/// Bolt 5 DateTime (UTC based): seconds, nanoseconds, offset 0.
fn put_time(b: &mut Vec<u8>, t: &chrono::DateTime<chrono::Utc>) {
    put_struct(b, 0x49, 3);
    put_int(b, t.timestamp());
    put_int(b, i64::from(t.timestamp_subsec_nanos()));
    put_int(b, 0);
}

fn put_value(b: &mut Vec<u8>, v: &ParamValue) {
    match v {
        ParamValue::Int(i) => put_int(b, *i),
        ParamValue::Float(f) => put_float(b, *f),
        ParamValue::Text(s) => put_str(b, s),
        ParamValue::Time(t) => put_time(b, t),
        ParamValue::Vector(v) => {
            put_list_header(b, v.len());
            v.iter().for_each(|f| put_float(b, f64::from(*f)));
        }
        ParamValue::Ints(v) => {
            put_list_header(b, v.len());
            v.iter().for_each(|i| put_int(b, *i));
        }
        ParamValue::Times(v) => {
            put_list_header(b, v.len());
            v.iter().for_each(|t| put_time(b, t));
        }
    }
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 16 {
        b.push(0x80 + n as u8);
    } else if n < 256 {
        b.extend_from_slice(&[0xD0, n as u8]);
    } else if n < 65536 {
        b.push(0xD1);
        b.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        b.push(0xD2);
        b.extend_from_slice(&(n as u32).to_be_bytes());
    }
    b.extend_from_slice(s.as_bytes());
}

fn put_int(b: &mut Vec<u8>, i: i64) {
    if (-16..128).contains(&i) {
        b.push(i as i8 as u8);
    } else {
        b.push(0xCB);
        b.extend_from_slice(&i.to_be_bytes());
    }
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> R<&'a [u8]> {
    let s = buf.get(*pos..*pos + n).ok_or("truncated Bolt message")?;
    *pos += n;
    Ok(s)
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |a, b| (a << 8) | u64::from(*b))
}

/// PackStream to JSON; structures become {"$tag": t, "fields": [...]}.
fn decode(buf: &[u8], pos: &mut usize) -> R<Value> {
    let m = take(buf, pos, 1)?[0];
    let sized = |pos: &mut usize, w: usize| -> R<usize> { Ok(be(take(buf, pos, w)?) as usize) };
    Ok(match m {
        0x00..=0x7F => json!(m),
        0xF0..=0xFF => json!(m as i8),
        0xC0 => Value::Null,
        0xC2 => json!(false),
        0xC3 => json!(true),
        0xC8 => json!(take(buf, pos, 1)?[0] as i8),
        0xC9 => json!(be(take(buf, pos, 2)?) as u16 as i16),
        0xCA => json!(be(take(buf, pos, 4)?) as u32 as i32),
        0xCB => json!(be(take(buf, pos, 8)?) as i64),
        0xC1 => json!(f64::from_bits(be(take(buf, pos, 8)?))),
        0x80..=0x8F | 0xD0..=0xD2 => {
            let n = match m {
                0xD0 => sized(pos, 1)?,
                0xD1 => sized(pos, 2)?,
                0xD2 => sized(pos, 4)?,
                _ => (m & 0x0F) as usize,
            };
            json!(String::from_utf8_lossy(take(buf, pos, n)?))
        }
        0xCC..=0xCE => {
            let n = sized(pos, 1 << (m - 0xCC))?;
            take(buf, pos, n)?;
            json!("<bytes>")
        }
        0x90..=0x9F | 0xD4..=0xD6 => {
            let n = match m {
                0xD4 => sized(pos, 1)?,
                0xD5 => sized(pos, 2)?,
                0xD6 => sized(pos, 4)?,
                _ => (m & 0x0F) as usize,
            };
            Value::Array((0..n).map(|_| decode(buf, pos)).collect::<R<_>>()?)
        }
        0xA0..=0xAF | 0xD8..=0xDA => {
            let n = match m {
                0xD8 => sized(pos, 1)?,
                0xD9 => sized(pos, 2)?,
                0xDA => sized(pos, 4)?,
                _ => (m & 0x0F) as usize,
            };
            let mut o = Map::new();
            for _ in 0..n {
                let k = decode(buf, pos)?;
                let v = decode(buf, pos)?;
                o.insert(k.as_str().unwrap_or_default().to_string(), v);
            }
            Value::Object(o)
        }
        0xB0..=0xBF => {
            let tag = take(buf, pos, 1)?[0];
            let fields = (0..(m & 0x0F))
                .map(|_| decode(buf, pos))
                .collect::<R<Vec<_>>>()?;
            json!({ "$tag": tag, "fields": fields })
        }
        other => return Err(format!("unknown PackStream marker 0x{other:02X}")),
    })
}

/// Operators of a profiled plan, outermost first, with the sum of their db hits.
pub fn operators(plan: &Value) -> (Vec<String>, i64) {
    let mut out = Vec::new();
    let mut hits = 0;
    walk(plan, &mut out, &mut hits);
    (out, hits)
}

fn walk(p: &Value, out: &mut Vec<String>, hits: &mut i64) {
    let op = p["operatorType"].as_str().unwrap_or("?");
    // Operator names carry a planner suffix ("NodeIndexSeek@neo4j"): keep the operator.
    let op = op.split('@').next().unwrap_or(op);
    let detail = p["args"]["Details"].as_str().unwrap_or("");
    let db = p["dbHits"].as_i64().unwrap_or(0);
    *hits += db;
    out.push(if detail.is_empty() {
        format!("{op} ({db} db hits)")
    } else {
        format!("{op} {detail} ({db} db hits)")
    });
    if let Some(children) = p["children"].as_array() {
        for c in children {
            walk(c, out, hits);
        }
    }
}

/// Page cache hits and misses summed over a profiled plan.
pub fn page_cache(plan: &Value) -> (i64, i64) {
    let mut acc = BTreeMap::new();
    fn go(p: &Value, acc: &mut BTreeMap<&'static str, i64>) {
        let get = |k: &str, arg: &str| p[k].as_i64().or(p["args"][arg].as_i64()).unwrap_or(0);
        *acc.entry("h").or_default() += get("pageCacheHits", "PageCacheHits");
        *acc.entry("m").or_default() += get("pageCacheMisses", "PageCacheMisses");
        if let Some(c) = p["children"].as_array() {
            for c in c {
                go(c, acc);
            }
        }
    }
    go(plan, &mut acc);
    (acc["h"], acc["m"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packstream_round_trips_what_we_send() {
        let mut b = Vec::new();
        put_map_header(&mut b, 3);
        put_str(&mut b, "n");
        put_int(&mut b, -1);
        put_str(&mut b, "big");
        put_int(&mut b, 1 << 40);
        put_str(&mut b, "long");
        put_str(&mut b, &"x".repeat(300));
        let v = decode(&b, &mut 0).unwrap();
        assert_eq!(v["n"], json!(-1));
        assert_eq!(v["big"], json!(1i64 << 40));
        assert_eq!(v["long"].as_str().unwrap().len(), 300);
    }

    #[test]
    fn plan_operators_and_hits() {
        let plan = json!({"operatorType": "ProduceResults@neo4j", "dbHits": 0, "args": {},
            "children": [{"operatorType": "NodeIndexSeek@neo4j", "dbHits": 2,
            "args": {"Details": "UNIQUE u:TunebenchUser(handle) WHERE handle = $handle"}, "children": []}]});
        let (ops, hits) = operators(&plan);
        assert_eq!(hits, 2);
        assert!(ops[1].starts_with("NodeIndexSeek UNIQUE"), "{ops:?}");
    }
}
